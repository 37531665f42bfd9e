# rehearse = true without backup.verify_dsn: nowhere to rehearse.
upgrade "p" {
  cluster      = "c"
  strategy     = "in_place" # INFO: UP019
  acknowledge  = ["UP019"]
  rehearse     = true # ERROR: UP048
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
  backup { dir = "/var/lib/upshift" }
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
}
