# in_place never shifts traffic; Y shares X database.
upgrade "p" {
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
    database { dsn = "postgres://kong@db2/kong" } # ERROR: UP011
  }
  traffic "command" { set = ["./lb.sh"] } # ERROR: UP011
  backup { dir = "/var/lib/upshift" }
  check "up" {
    request { path = "/" }
    expect { status = 200 }
  }
}
