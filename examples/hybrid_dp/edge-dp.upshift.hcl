# Rolling upgrade of hybrid data planes from 3.8.0 to 3.9.1.
#
# In hybrid mode the control plane holds the configuration and pushes it to
# its data planes; Kong requires the control plane to be upgraded first (a
# data plane's minor must not be newer than its control plane's, same
# major). This plan upgrades only the data planes: Y's nodes join the
# control plane named below, which already runs 3.9.1. The guard checks
# that it answers and accepts 3.9.1 data planes before anything starts;
# upshift plan shows its version and every data plane it lists by node ID.
#
# Each data plane keeps a local admin API (admin_listen = 127.0.0.1:8001
# on the node, read-only in hybrid mode): Upshift reads its version and
# readiness there. No database and no migrations on this side.
upgrade "edge-dp-3.9" {
  cluster  = "edge-dp"
  strategy = "rolling"
  mode     = "hybrid_dp"

  from {
    version = "3.8.0"
    node "dp-x1" {
      admin_url = env("DP_X1_ADMIN_URL")
      proxy_url = env("DP_X1_PROXY_URL")
      stop      = ["/opt/kong/bin/dp", "stop", "dp-x1"]
    }
    node "dp-x2" {
      admin_url = env("DP_X2_ADMIN_URL")
      proxy_url = env("DP_X2_PROXY_URL")
      stop      = ["/opt/kong/bin/dp", "stop", "dp-x2"]
    }
  }

  to {
    version = "3.9.1"
    # The start hook launches the node and exits; the node keeps running
    # (docs/hooks.md). Upshift then waits until it answers at 3.9.1 and is
    # ready; the data_planes_synced check below waits for its configuration.
    node "dp-y1" {
      admin_url = env("DP_Y1_ADMIN_URL")
      proxy_url = env("DP_Y1_PROXY_URL")
      start     = ["/opt/kong/bin/dp", "start", "dp-y1", "3.9.1"]
      stop      = ["/opt/kong/bin/dp", "stop", "dp-y1"]
    }
    node "dp-y2" {
      admin_url = env("DP_Y2_ADMIN_URL")
      proxy_url = env("DP_Y2_PROXY_URL")
      start     = ["/opt/kong/bin/dp", "start", "dp-y2", "3.9.1"]
      stop      = ["/opt/kong/bin/dp", "stop", "dp-y2"]
    }
  }

  # The control plane every data plane of both sides connects to. Its
  # version is what the plan believes; the guard compares it with what
  # the control plane answers and refuses a control plane that would not
  # accept Y's data planes.
  control_plane {
    version     = "3.9.1"
    admin_url   = env("KONG_CP_ADMIN_URL")
    admin_token = env("KONG_CP_ADMIN_TOKEN")
  }

  backup {
    dir = "/var/lib/upshift/backups" # GET /config of X's first data plane
  }

  traffic "nginx" {
    upstream_file = "/etc/nginx/conf.d/kong-dp-upstream.conf"
    upstream      = "kong_dp"
    test          = ["nginx", "-t"]
    reload        = ["nginx", "-s", "reload"]
  }

  # Every Y data plane reports sync_status normal with the control plane's
  # configuration hash before traffic moves.
  check "data_planes_synced" {
    data_planes_synced = true
  }

  check "key_auth_rejects_anonymous" {
    request {
      path = "/orders"
    }
    expect {
      status = 401
    }
  }

  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.005
  }

  rollout {
    step {
      weight = 25
      pause  = "10m"
    }
    step {
      weight = 100
      pause  = "15m"
    }
  }

  approve = [] # add "decommission" after the run stops at that gate
}
