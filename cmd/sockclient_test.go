package cmd_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sockclient is the socket client of the ppool --listen scripts, a program
// (registered in scriptPrograms) so that scripts can run it in the
// background or from sh -c:
//
//	sockclient echo ADDRFILE N        N concurrent clients; each must get its own data upper-cased
//	sockclient slow ADDRFILE N        N concurrent clients, each prints what it got
//	sockclient once ADDRFILE DATA     one request, prints the answer
//	sockclient rst ADDRFILE           sends part of a request, then resets the connection
//	sockclient churn ADDRFILE N PIDFILE   N short connections; checks the server's fds and children
//	sockclient cred ADDRFILE          checks that the handler saw this process's pid and uid
//	sockclient idle ADDRFILE          connects, sends nothing, reports when the server closes
//	sockclient bind PATH              leaves a unix socket file that nobody accepts on
func sockclient(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sockclient MODE ADDRFILE|PATH [ARGS]")
		return 2
	}
	mode, addrfile, rest := args[0], args[1], args[2:]
	arg := func(i int) int {
		n, err := strconv.Atoi(rest[i])
		if err != nil {
			panic(err)
		}
		return n
	}
	switch mode {
	case "echo":
		n := arg(0)
		var mu sync.Mutex
		var bad []string
		parallel(n, func(i int) {
			data := bytes.Repeat([]byte(fmt.Sprintf("client %d says hello\n", i)), 200+i)
			got, err := request(addrfile, data)
			if err != nil || !bytes.Equal(got, bytes.ToUpper(data)) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%d: %v", i, err))
				mu.Unlock()
			}
		})
		if len(bad) > 0 {
			fmt.Println("bad", bad)
		} else {
			fmt.Println("ok", n)
		}
	case "slow":
		var mu sync.Mutex
		var got []string
		parallel(arg(0), func(int) {
			b, err := request(addrfile, nil)
			mu.Lock()
			got = append(got, strings.TrimSpace(string(b))+errText(err))
			mu.Unlock()
		})
		slices.Sort(got)
		fmt.Println(strings.Join(got, "\n"))
	case "once":
		b, err := request(addrfile, []byte(rest[0]))
		os.Stdout.Write(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "rst":
		c, err := connect(addrfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.Write([]byte("partial"))
		io.ReadFull(c, make([]byte, 7))
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST
		}
		c.Close()
	case "cred":
		b, err := request(addrfile, nil)
		want := fmt.Sprintf("UNIX %d %d pid=%d,uid=%d\n", os.Getpid(), os.Getuid(), os.Getpid(), os.Getuid())
		if string(b) == want {
			fmt.Println("match")
		} else {
			fmt.Printf("got %q want %q%s\n", b, want, errText(err))
		}
	case "idle":
		c, err := connect(addrfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		start := time.Now()
		io.Copy(io.Discard, c)
		if took := time.Since(start); took >= 250*time.Millisecond {
			fmt.Printf("closed after %.1fs\n", took.Seconds())
		} else {
			fmt.Printf("closed too early: %.3fs\n", took.Seconds())
		}
	case "churn":
		n := arg(0)
		b, err := os.ReadFile(rest[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pid := strings.TrimSpace(string(b))
		request(addrfile, nil)
		time.Sleep(200 * time.Millisecond) // the first handler is reaped
		before := fds(pid)
		parallel(4, func(int) {
			for range n / 4 {
				request(addrfile, nil)
			}
		})
		for range 100 { // the last handlers are being reaped
			if len(children(pid)) == 0 && fds(pid) <= before {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if after := fds(pid); after <= before {
			fmt.Println("fds ok")
		} else {
			fmt.Printf("fds leaked: %d before, %d after\n", before, after)
		}
		fmt.Println("children", children(pid))
	case "bind":
		l, err := net.Listen("unix", addrfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	default:
		fmt.Fprintf(os.Stderr, "sockclient: unknown mode %q\n", mode)
		return 2
	}
	return 0
}

func errText(err error) string {
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

// parallel runs f(0..n-1) at once and waits for them all.
func parallel(n int, f func(int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// connect dials the address in addrfile: HOST:PORT or unix:PATH.
func connect(addrfile string) (net.Conn, error) {
	b, err := os.ReadFile(addrfile)
	if err != nil {
		return nil, err
	}
	addr := strings.TrimSpace(string(b))
	var c net.Conn
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		c, err = net.DialTimeout("unix", path, 20*time.Second)
	} else {
		c, err = net.DialTimeout("tcp", addr, 20*time.Second)
	}
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, nil
}

// request sends data, closes the writing side and returns all the answer.
// A handler may answer and exit without reading: a failed write is not an
// error.
func request(addrfile string, data []byte) ([]byte, error) {
	c, err := connect(addrfile)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if len(data) > 0 {
		c.Write(data)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return io.ReadAll(c)
}

func fds(pid string) int {
	es, _ := os.ReadDir("/proc/" + pid + "/fd")
	return len(es)
}

// children lists pid's child processes as PID:STATE, but for the lifetime
// watchdog, which leads a session of its own and lives as long as the
// server: it is not a handler.
func children(pid string) []string {
	es, _ := os.ReadDir("/proc")
	out := []string{}
	for _, e := range es {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, after, ok := bytes.Cut(b, []byte(")"))
		f := strings.Fields(string(after))
		if ok && len(f) > 3 && f[1] == pid && f[3] != e.Name() {
			out = append(out, e.Name()+":"+f[0])
		}
	}
	return out
}
