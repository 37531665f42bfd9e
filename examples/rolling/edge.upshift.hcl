# Rolling upgrade of the DB-less "edge" nodes from 3.8.0 to 3.9.1.
#
# DB-less nodes are independent: Upshift dumps the declarative configuration,
# starts Y nodes with it, tests them, moves traffic to them step by step and
# stops X nodes. No database, no migrations.
upgrade "edge-3.9" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "dbless"

  from {
    version = "3.8.0"
    node "edge-x1" {
      admin_url = env("EDGE_X1_ADMIN_URL")
      proxy_url = env("EDGE_X1_PROXY_URL")
      stop      = ["./nodes.sh", "stop", "edge-x1"]
    }
    node "edge-x2" {
      admin_url = env("EDGE_X2_ADMIN_URL")
      proxy_url = env("EDGE_X2_PROXY_URL")
      stop      = ["./nodes.sh", "stop", "edge-x2"]
    }
  }

  to {
    version = "3.9.1"
    node "edge-y1" {
      admin_url = env("EDGE_Y1_ADMIN_URL")
      proxy_url = env("EDGE_Y1_PROXY_URL")
      start     = ["./nodes.sh", "start", "edge-y1"]
    }
    node "edge-y2" {
      admin_url = env("EDGE_Y2_ADMIN_URL")
      proxy_url = env("EDGE_Y2_PROXY_URL")
      start     = ["./nodes.sh", "start", "edge-y2"]
    }
  }

  backup {
    dir = "/var/lib/upshift/backups" # the decK dump / GET /config of X
  }

  # A command driver: set receives the weights, get prints "FROM TO".
  traffic "command" {
    set = ["./lb.sh", "set", "{from_weight}", "{to_weight}"]
    get = ["./lb.sh", "get"]
  }

  check "routes_answer" {
    request {
      path = "/healthz"
    }
    expect {
      status = 200
    }
  }

  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.01
  }

  rollout {
    step {
      weight = 50
      pause  = "10m"
    }
    step {
      weight = 100
      pause  = "10m"
    }
  }
}
