# In-place upgrade of the "staging" cluster from 3.8.0 to 3.9.1.
#
# The cheapest strategy, with downtime: X is stopped (once "stop_current" is
# approved), "kong migrations up" and "finish" run on X's database, then Y
# starts on it. X and Y never serve together, so there is no traffic block.
upgrade "staging-3.9" {
  cluster  = "staging"
  strategy = "in_place"
  mode     = "traditional"

  # UP019 warns that in_place means downtime. Intended here: staging has no
  # users at night, the rehearsal measures the migrations, and max_downtime
  # refuses the upgrade if the rehearsal predicts more.
  acknowledge = ["UP019"]
  # Right after the backup, Y's migrations run on a test restore of it
  # (backup.verify_dsn), timed: the predicted downtime is checked against
  # max_downtime before X is stopped.
  rehearse = true

  from {
    version     = "3.8.0"
    admin_url   = env("KONG_ADMIN_URL")
    admin_token = env("KONG_ADMIN_TOKEN")
    proxy_url   = env("KONG_PROXY_URL")
    database { dsn = env("KONG_DSN") }
    stop = ["systemctl", "stop", "kong"]
  }

  to {
    version     = "3.9.1"
    admin_url   = env("KONG_ADMIN_URL") # the same address: Y replaces X
    admin_token = env("KONG_ADMIN_TOKEN")
    proxy_url   = env("KONG_PROXY_URL")
    kong        = ["/opt/kong-3.9.1/bin/kong"]
    start       = ["systemctl", "start", "kong"]
  }

  backup {
    dir        = "/var/lib/upshift/backups"
    verify     = true
    verify_dsn = env("UPSHIFT_SCRATCH_DSN")
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

  max_downtime = "2m"

  # Once the run waits at stop_from (AwaitingApproval), a later commit adding
  # "stop_current" here starts the downtime; an item written before the gate
  # does not count.
  approve = []

  rollback {
    restore = true # after "stop_current", going back means restoring the verified backup
  }
}
