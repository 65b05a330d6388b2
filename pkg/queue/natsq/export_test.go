package natsq

// SetMaxDeletedDetails lowers the bound past which held() looks items up
// one by one, so a test can reach that path with a few holes.
func SetMaxDeletedDetails(n int) func() {
	old := maxDeletedDetails
	maxDeletedDetails = n
	return func() { maxDeletedDetails = old }
}
