# in_place rehearsed on a test restore (backup.verify_dsn): the engine
# refuses it when the predicted downtime exceeds max_downtime.
upgrade "p" {
  cluster      = "c"
  strategy     = "in_place" # INFO: UP019
  acknowledge  = ["UP019"]
  rehearse     = true
  max_downtime = "5m"
  from {
    version   = "3.8.0"
    admin_url = "http://x:8001"
    database { dsn = "postgres://kong@db/kong" }
  }
  to {
    version   = "3.9.1"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    kong      = ["kong"]
  }
  backup {
    dir        = "/var/lib/upshift"
    verify_dsn = "postgres://upshift@verify-db/postgres"
  }
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
}
