package cli

import (
	"errors"
	"strconv"
	"strings"
)

// ParseSize reads a size in bytes, with an optional binary suffix K, M,
// G or T (either case) and a fraction: 512, 64K, 1.5M. Empty is 0.
func ParseSize(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	mult := uint64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	}
	num := s
	if mult > 1 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || n != n {
		return 0, errors.New("want a size like 64K, 500M or 2G")
	}
	return uint64(n * float64(mult)), nil
}
