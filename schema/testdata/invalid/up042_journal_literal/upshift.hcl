journal {
  postgres = "postgres://upshift@db/journal" # ERROR: UP042
}
