# Blue-green patch upgrade of the "prod-us" cluster from 3.9.0 to 3.9.1.
#
# Y shares X's database: "kong migrations up" leaves it usable by both
# versions, traffic moves to Y, X is stopped (reversible), and only then
# "kong migrations finish" runs, the point of no return, once a later commit
# adds "finish" to approve. Kong supports blue-green for patch upgrades only
# (from 2.8.2); across series use dual_cluster.
upgrade "prod-us-3.9.1" {
  cluster  = "prod-us"
  strategy = "blue_green"
  mode     = "traditional"

  from {
    version     = "3.9.0"
    admin_url   = env("KONG_X_ADMIN_URL")
    admin_token = env("KONG_X_ADMIN_TOKEN")
    proxy_url   = env("KONG_X_PROXY_URL")
    database { dsn = env("KONG_DSN") } # the one database X and Y share
    start = ["./deploy.sh", "start", "blue"]
    stop  = ["./deploy.sh", "stop", "blue"]
  }

  to {
    version     = "3.9.1"
    admin_url   = env("KONG_Y_ADMIN_URL")
    admin_token = env("KONG_Y_ADMIN_TOKEN")
    proxy_url   = env("KONG_Y_PROXY_URL")
    # No database block: Y runs on X's database. Upshift passes it to Y's
    # kong CLI as KONG_PG_* in the environment.
    kong  = ["kong"]
    start = ["./deploy.sh", "start", "green"]
    stop  = ["./deploy.sh", "stop", "green"]
  }

  backup {
    dir    = "/var/lib/upshift/backups"
    keep   = 5
    verify = false # a patch hop: the pg_dump is still taken, but not test-restored
  }

  # HAProxy changes weights over its runtime API, without a reload.
  traffic "haproxy" {
    socket       = "/run/haproxy/admin.sock"
    backend      = "kong"
    from_servers = ["blue1", "blue2"]
    to_servers   = ["green1", "green2"]
  }

  check "status_ok" {
    request {
      path = "/status-probe"
    }
    expect {
      status = 200
      json_path = {
        "service" = "orders"
      }
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
    interval   = "30s"
    failures   = 2 # failed measurements tolerated; no data counts as a failure
  }

  rollout {
    step {
      weight = 25
      pause  = "5m"
    }
    step {
      weight = 100
      pause  = "15m"
    }
  }

  # Consent counts only when added after the run stopped at the gate: once
  # the run waits at migrations_finish (AwaitingApproval), a later commit
  # adds "finish"; the same for "decommission". An item written here before
  # the gate does not count. (approve_in_advance = [...] skips the gates:
  # unattended environments only; lint warns, UP039.)
  approve = []
}
