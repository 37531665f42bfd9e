journal {
  postgres = env("UPSHIFT_JOURNAL_DSN")
}
