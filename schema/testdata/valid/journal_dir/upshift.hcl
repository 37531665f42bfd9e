journal {
  dir = "/var/lib/upshift/journal"
}
