# No checks.
upgrade "p" { # WARNING: UP020
  cluster     = "c"
  strategy    = "in_place" # INFO: UP019
  acknowledge = ["UP019"]
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
}
