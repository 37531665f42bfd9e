upgrade "a" {
  cluster  = "prod"
  strategy = "in_place"
  from { version = "3.7.0" }
  to { version = "3.8.0" }
}
