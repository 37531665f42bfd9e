package kongsim

import "errors"

func as[T error](err error, target *T) bool { return errors.As(err, target) }
