package ppool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Source yields the items of one input source; Next returns io.EOF at the
// end. Stdin, -a files and ::: groups are sources today; a pqueue queue and a
// listening socket plug in as peers by implementing it.
type Source interface {
	Next() (string, error)
}

// steady is implemented by the sources whose Next never waits for
// another process: what they read is at hand (a list, a regular file).
type steady interface {
	steady() bool
}

// readerSource splits a stream into items at sep ('\n' or 0).
type readerSource struct {
	r       *bufio.Reader
	sep     byte
	regular bool // a regular file
}

func newReaderSource(r io.Reader, sep byte) *readerSource {
	s := &readerSource{r: bufio.NewReaderSize(r, 64*1024), sep: sep}
	if f, ok := r.(*os.File); ok {
		st, err := f.Stat()
		s.regular = err == nil && st.Mode().IsRegular()
	}
	return s
}

func (s *readerSource) steady() bool { return s.regular }

func (s *readerSource) Next() (string, error) {
	line, err := s.r.ReadString(s.sep)
	if err == io.EOF && line == "" {
		return "", io.EOF
	}
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read input: %w", err)
	}
	return strings.TrimSuffix(line, string(s.sep)), nil
}

// listSource yields the items given on the command line after :::.
type listSource struct{ items []string }

func (s *listSource) steady() bool { return true }

func (s *listSource) Next() (string, error) {
	if len(s.items) == 0 {
		return "", io.EOF
	}
	it := s.items[0]
	s.items = s.items[1:]
	return it, nil
}

// Item is one job's input: one value per source (or per column with --colsep).
type Item []string

// Items combines sources into job items: a single source streams; several
// are read whole and combined as a cartesian product (last varies fastest),
// or zipped with link, shorter sources cycling as in GNU parallel.
type Items struct {
	single Source
	all    []Item
	colsep *regexp.Regexp
	batch  *batcher // -N/-X: several items a job (batch.go)
}

// steady reports whether taking the next item never waits for another
// process: the sources were read whole, or the one source is steady.
func (it *Items) steady() bool {
	s, ok := it.single.(steady)
	return it.single == nil || ok && s.steady()
}

// NewItems combines sources as described on Items.
func NewItems(sources []Source, link bool, colsep *regexp.Regexp) (*Items, error) {
	it := &Items{colsep: colsep}
	if len(sources) == 1 {
		it.single = sources[0]
		return it, nil
	}
	lists := make([][]string, len(sources))
	for i, s := range sources {
		for {
			v, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			lists[i] = append(lists[i], v)
		}
		if len(lists[i]) == 0 {
			return it, nil // product with an empty source is empty
		}
	}
	if link {
		n := 0
		for _, l := range lists {
			n = max(n, len(l))
		}
		for k := 0; k < n; k++ {
			item := make(Item, len(lists))
			for i, l := range lists {
				item[i] = l[k%len(l)]
			}
			it.all = append(it.all, item)
		}
		return it, nil
	}
	idx := make([]int, len(lists))
	for {
		item := make(Item, len(lists))
		for i, l := range lists {
			item[i] = l[idx[i]]
		}
		it.all = append(it.all, item)
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(lists[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return it, nil
		}
	}
}

// nextOne returns the next single item, or io.EOF.
func (it *Items) nextOne() (Item, error) {
	var item Item
	if it.single != nil {
		v, err := it.single.Next()
		if err != nil {
			return nil, err
		}
		item = Item{v}
	} else {
		if len(it.all) == 0 {
			return nil, io.EOF
		}
		item = it.all[0]
		it.all = it.all[1:]
	}
	if it.colsep != nil {
		var cols Item
		for _, v := range item {
			cols = append(cols, it.colsep.Split(v, -1)...)
		}
		item = cols
	}
	return item, nil
}

// splitGroups parses "CMD ARGS ::: a b ::: c :::: file" into the command and
// its input sources.
func splitGroups(args []string) (cmd []string, sources []Source, err error) {
	i := 0
	for i < len(args) && args[i] != ":::" && args[i] != "::::" {
		i++
	}
	cmd = args[:i]
	for i < len(args) {
		sep := args[i]
		j := i + 1
		for j < len(args) && args[j] != ":::" && args[j] != "::::" {
			j++
		}
		group := args[i+1 : j]
		if sep == ":::" {
			sources = append(sources, &listSource{items: append([]string(nil), group...)})
		} else {
			for _, name := range group {
				f, err := os.Open(name)
				if err != nil {
					return nil, nil, fmt.Errorf("input file: %w", err)
				}
				sources = append(sources, newReaderSource(f, '\n'))
			}
		}
		i = j
	}
	return cmd, sources, nil
}
