package proc

// Port is a listening socket's protocol ("tcp" or "udp") and number.
type Port struct {
	Proto string
	Num   uint16
}
