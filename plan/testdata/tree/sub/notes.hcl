not a plan
