# Dual-cluster upgrade of the "prod-eu" Kong cluster from 3.8.0 to 3.9.1.
#
# Kong's safest strategy: X keeps its database untouched; Upshift backs X up,
# restores the backup into Y's own database, runs Y's migrations there,
# starts Y, tests it, then moves traffic step by step. Rolling back is
# "all traffic to X" until the decommission of X is approved.
#
# URLs and secrets come from the environment (env()); nothing secret is in Git.
upgrade "prod-eu-3.9" {
  cluster  = "prod-eu"
  strategy = "dual_cluster"
  mode     = "traditional"

  from {
    version     = "3.8.0"
    admin_url   = env("KONG_X_ADMIN_URL")
    admin_token = env("KONG_X_ADMIN_TOKEN") # sent as Kong-Admin-Token
    status_url  = env("KONG_X_STATUS_URL")  # readiness: Status API /status/ready
    proxy_url   = env("KONG_X_PROXY_URL")   # X as the load balancer sees it
    database { dsn = env("KONG_X_DSN") }    # the password comes from PGPASSWORD or a pgpass file
    start = ["./deploy.sh", "start", "x"]   # hooks are argv lists, run without a shell
    stop  = ["./deploy.sh", "stop", "x"]
  }

  to {
    version     = "3.9.1"
    admin_url   = env("KONG_Y_ADMIN_URL")
    admin_token = env("KONG_Y_ADMIN_TOKEN")
    status_url  = env("KONG_Y_STATUS_URL")
    proxy_url   = env("KONG_Y_PROXY_URL")
    database { dsn = env("KONG_Y_DSN") } # Y's own database: the backup of X is restored here
    # Y's kong CLI for "kong migrations up/finish". Upshift sets KONG_PG_* in
    # its environment (the password only there, never in argv).
    kong  = ["kong"]
    start = ["./deploy.sh", "start", "y"]
    stop  = ["./deploy.sh", "stop", "y"]
  }

  # Kong cannot refuse admin writes by itself: these hooks close and reopen
  # the admin API at the gateway in front of it.
  freeze {
    start = ["./admin-gate.sh", "close"]
    end   = ["./admin-gate.sh", "open"]
  }

  backup {
    dir        = "/var/lib/upshift/backups"
    keep       = 10
    verify     = true                       # restore into a scratch database first
    verify_dsn = env("UPSHIFT_SCRATCH_DSN") # a server where Upshift may CREATE/DROP DATABASE
  }

  traffic "nginx" {
    upstream_file = "/etc/nginx/conf.d/kong-upstream.conf"
    upstream      = "kong"
    test          = ["nginx", "-t"]
    reload        = ["nginx", "-s", "reload"]
  }

  # Staging tests against Y before any traffic moves.
  check "key_auth_rejects_anonymous" {
    request {
      method = "GET"
      path   = "/orders"
    }
    expect {
      status        = 401
      body_contains = "No API key found in request"
    }
  }

  check "key_auth_accepts_a_key" {
    request {
      path    = "/orders"
      headers = { apikey = env("KONG_TEST_API_KEY") }
    }
    expect {
      status = 200
    }
  }

  # No Prometheus needed: Upshift scrapes both clusters' /metrics (the
  # prometheus plugin with status_code_metrics and latency_metrics on). The
  # guard checks these inputs on X before anything moves, and on Y before
  # its first traffic step: a missing plugin stops the plan, with the fix.
  analysis "y_not_worse_than_x" {
    compare            = "kong_metrics"
    error_rate_margin  = 0.005
    p99_latency_margin = "20ms"
    interval           = "30s"
    failures           = 2
  }

  rollout {
    step {
      weight = 10
      pause  = "5m"
    }
    step {
      weight = 50
      pause  = "10m"
    }
    step {
      weight = 100
      pause  = "30m"
    }
  }

  # Points of no return are consented to by a commit made after the run
  # stopped at the gate (AwaitingApproval): then add "decommission" here.
  # An item written before the gate does not count.
  approve = []

  rollback {
    requested       = false # true: send all traffic back to X now
    on_gate_failure = true
    restore         = false
  }
}
