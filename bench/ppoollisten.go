package main

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var ppoolListenSuite = Suite{
	Name:  "ppool-listen",
	About: "ppool --listen (a process per connection): connections/s and request latency with a cat handler vs socat fork and tcpserver",
	Run:   benchPpoolListen,
}

// forkServer is one per-connection server under test, started on port.
type forkServer struct {
	name  string
	needs string
	argv  func(port int) []string
}

var forkServers = []forkServer{
	{"ppool --listen -j 40 -- cat", "ppool", func(p int) []string {
		return []string{"ppool", "--listen", "127.0.0.1:" + strconv.Itoa(p), "-j", "40", "--", "cat"}
	}},
	{"socat TCP-LISTEN:...,fork EXEC:cat", "socat", func(p int) []string {
		// -t 10: after the client's half-close socat waits only 0.5s
		// (its default) for cat's answer, too short on a loaded machine.
		return []string{"socat", "-t", "10", "TCP-LISTEN:" + strconv.Itoa(p) + ",bind=127.0.0.1,reuseaddr,fork,backlog=1024", "EXEC:cat"}
	}},
	{"tcpserver -c 40 ... cat", "tcpserver", func(p int) []string {
		return []string{"tcpserver", "-R", "-H", "-l0", "-c", "40", "-b", "1024", "127.0.0.1", strconv.Itoa(p), "cat"}
	}},
}

func benchPpoolListen(b *Bench) error {
	const rounds, conns, clients, pings = 3, 1000, 8, 300
	type result struct{ rate, p50, p99 []float64 }
	results := make([]result, len(forkServers))
	for r := 0; r < rounds; r++ {
		for i, s := range forkServers {
			if !b.Have(s.needs) {
				continue
			}
			rate, lat, err := measureForkServer(s, conns, clients, pings)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			results[i].rate = append(results[i].rate, rate)
			results[i].p50 = append(results[i].p50, listenPercentile(lat, 50))
			results[i].p99 = append(results[i].p99, listenPercentile(lat, 99))
		}
	}
	var rows []Row
	for i, s := range forkServers {
		if !b.Have(s.needs) {
			rows = append(rows, Row{Name: s.name, Unit: "conn/s", Note: s.needs + " not installed"})
			continue
		}
		rows = append(rows, Row{Name: s.name, Samples: results[i].rate, Unit: "conn/s",
			Note: fmt.Sprintf("%d connections, %d clients, echo 6 bytes", conns, clients)})
	}
	for _, pct := range []string{"p50", "p99"} {
		for i, s := range forkServers {
			if !b.Have(s.needs) {
				continue
			}
			samples := results[i].p50
			if pct == "p99" {
				samples = results[i].p99
			}
			rows = append(rows, Row{Name: s.name + " " + pct, Samples: samples, Unit: "ms",
				Note: fmt.Sprintf("one client, %d sequential requests", pings)})
		}
	}
	b.Report(fmt.Sprintf("per-connection servers, cat handler (%d rounds, medians)", rounds), rows...)
	return nil
}

// measureForkServer starts s, measures connections per second with
// clients concurrent clients, then the latency of sequential requests.
func measureForkServer(s forkServer, conns, clients, pings int) (float64, []float64, error) {
	port, err := listenFreePort()
	if err != nil {
		return 0, nil, err
	}
	argv := s.argv(port)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	}()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := listenEcho(addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, nil, fmt.Errorf("server on %s did not answer", addr)
		}
	}
	work := make(chan struct{})
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := listenEcho(addr); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range conns {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	rate := float64(conns) / time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return 0, nil, err
	}
	lat := make([]float64, 0, pings)
	for range pings {
		d, err := listenEcho(addr)
		if err != nil {
			return 0, nil, err
		}
		lat = append(lat, float64(d.Microseconds())/1000)
	}
	return rate, lat, nil
}

// listenEcho is one request: connect, send a line, half-close, read the
// echo back until the server closes.
func listenEcho(addr string) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "ping!\n"); err != nil {
		return 0, err
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return 0, err
	}
	if string(got) != "ping!\n" {
		return 0, fmt.Errorf("echo returned %q", got)
	}
	return time.Since(start), nil
}

func listenFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func listenPercentile(xs []float64, p int) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
