journal {
  dir = "state/journal" # ERROR: UP041
}
