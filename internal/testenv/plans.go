package testenv

// UnreachablePlan is a valid blue-green plan whose X does not answer, so
// the guard stops its run (run_started, then stalled): PORT stands for an
// unused port and BACKUPS for a backup directory, both for the test to
// replace. The agent's and the CLI's agent tests share it.
const UnreachablePlan = `upgrade "edge-3-9" {
  cluster  = "edge"
  strategy = "blue_green"
  mode     = "traditional"
  from {
    version   = "3.9.0"
    admin_url = "http://127.0.0.1:PORT"
    proxy_url = "http://127.0.0.1:PORT"
    database { dsn = "postgres://kong@127.0.0.1:PORT/kong" }
    start = ["true"]
    stop  = ["true"]
  }
  to {
    version   = "3.9.1"
    admin_url = "http://127.0.0.1:PORT"
    proxy_url = "http://127.0.0.1:PORT"
    kong      = ["kong"]
    start     = ["true"]
    stop      = ["true"]
  }
  backup {
    dir    = "BACKUPS"
    verify = false
  }
  traffic "command" {
    set = ["true"]
    get = ["echo", "100 0"]
  }
  rollout {
    step {
      weight = 100
      pause  = "1s"
    }
  }
}
`
