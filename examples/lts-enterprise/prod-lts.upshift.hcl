# Enterprise LTS to LTS: 3.4.3.12 → 3.10.0.2, dual-cluster.
#
# Kong guarantees a direct hop between adjacent LTS releases (2.8 → 3.4 →
# 3.10 → 3.14). 3.10 ships as Enterprise only, so both versions are 4-part.
# Kong's LTS guide lists in-place, dual-cluster and rolling for this hop
# (not blue-green); dual-cluster keeps X's database untouched for rollback.
# Read the 3.4 → 3.10 considerations first: Dev Portal and Vitals are gone
# from 3.5, and "deck file convert --from 3.4 --to 3.10" updates decK files.
upgrade "prod-lts-3.10" {
  cluster  = "prod-lts"
  strategy = "dual_cluster"
  mode     = "traditional"

  from {
    version     = "3.4.3.12"
    admin_url   = env("KONG_X_ADMIN_URL")
    admin_token = env("KONG_X_ADMIN_TOKEN")
    proxy_url   = env("KONG_X_PROXY_URL")
    database { dsn = env("KONG_X_DSN") }
  }

  to {
    version     = "3.10.0.2"
    admin_url   = env("KONG_Y_ADMIN_URL")
    admin_token = env("KONG_Y_ADMIN_TOKEN")
    status_url  = env("KONG_Y_STATUS_URL")
    proxy_url   = env("KONG_Y_PROXY_URL")
    database { dsn = env("KONG_Y_DSN") }
    # Y runs in Kubernetes: its kong CLI is reached with kubectl exec, which
    # does not carry Upshift's KONG_PG_* environment into the pod, so the target
    # database goes into argv with placeholders. Never the password: the pod
    # reads KONG_PG_PASSWORD from its own Kubernetes secret.
    kong = [
      "kubectl", "exec", "deploy/kong-y", "--", "env",
      "KONG_PG_HOST={pg_host}",
      "KONG_PG_PORT={pg_port}",
      "KONG_PG_DATABASE={pg_database}",
      "KONG_PG_USER={pg_user}",
      "kong",
    ]
  }

  backup {
    dir        = "/var/lib/upshift/backups"
    keep       = 20
    verify     = true
    verify_dsn = env("UPSHIFT_SCRATCH_DSN")
  }

  traffic "nginx" {
    upstream_file = "/etc/nginx/conf.d/kong-upstream.conf"
    upstream      = "kong"
    test          = ["nginx", "-t"]
    reload        = ["nginx", "-s", "reload"]
  }

  check "key_auth_rejects_anonymous" {
    request {
      path = "/orders"
    }
    expect {
      status        = 401
      body_contains = "No API key found in request"
    }
  }

  check "consumer_reaches_orders" {
    request {
      path    = "/orders"
      headers = { apikey = env("KONG_TEST_API_KEY") }
    }
    expect {
      status = 200
    }
  }

  # Y judged against X from both clusters' own /metrics, no Prometheus
  # needed: the prometheus plugin with status_code_metrics = true (and
  # latency_metrics = true for the p99 margin) on X; Y gets X's
  # configuration. The guard checks these inputs before anything moves.
  analysis "y_not_worse_than_x" {
    compare            = "kong_metrics"
    error_rate_margin  = 0.005
    p99_latency_margin = "20ms"
  }

  # "or vector(0)": with no 5xx yet there is no 5xx series, and a query with no
  # data fails the gate; a healthy Y must measure 0.
  analysis "error_rate" {
    prometheus = env("PROMETHEUS_URL")
    query      = "(sum(rate(kong_http_requests_total{code=~\"5..\"}[1m])) or vector(0)) / sum(rate(kong_http_requests_total[1m]))"
    max        = 0.01
  }

  analysis "p99_latency_ms" {
    prometheus = env("PROMETHEUS_URL")
    query      = "histogram_quantile(0.99, sum(rate(kong_kong_latency_ms_bucket[1m])) by (le))"
    max        = 50
  }

  rollout {
    step {
      weight = 5
      pause  = "15m"
    }
    step {
      weight = 25
      pause  = "30m"
    }
    step {
      weight = 50
      pause  = "1h"
    }
    step {
      weight = 100
      pause  = "2h"
    }
  }

  approve = []
}
