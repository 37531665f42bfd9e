# in_place without acknowledging its downtime.
upgrade "p" {
  cluster     = "c"
  strategy    = "in_place" # WARNING: UP019
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
