package ppool

import (
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestBatcher(t *testing.T) {
	for _, c := range []struct {
		name string
		b    batcher
		want []Item
	}{
		{"-N 2", batcher{n: 2, uses: 1}, []Item{{"a", "bb"}, {"ccc", "d"}, {"eeeee"}}},
		{"-N 9", batcher{n: 9, uses: 1}, []Item{{"a", "bb", "ccc", "d", "eeeee"}}},
		// Each value costs its bytes, a NUL and a pointer: 10, 11, 12, 10, 14.
		{"-X 22", batcher{room: 22, uses: 1}, []Item{{"a", "bb"}, {"ccc", "d"}, {"eeeee"}}},
		{"-X 5, a value longer than the room goes alone", batcher{room: 5, uses: 1}, []Item{{"a"}, {"bb"}, {"ccc"}, {"d"}, {"eeeee"}}},
		{"-X 44, {} twice", batcher{room: 44, uses: 2}, []Item{{"a", "bb"}, {"ccc", "d"}, {"eeeee"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &listSource{items: []string{"a", "bb", "ccc", "d", "eeeee"}}
			one := func() (Item, error) {
				v, err := src.Next()
				return Item{v}, err
			}
			var got []Item
			for {
				it, err := c.b.next(one)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, it)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
