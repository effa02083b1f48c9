package httpapi

// tryTake takes one of the slots of sem (a buffered channel as big as the
// limit) without waiting. It returns the function that gives the slot back,
// or false when every slot is taken.
func tryTake(sem chan struct{}) (release func(), ok bool) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	default:
		return nil, false
	}
}
