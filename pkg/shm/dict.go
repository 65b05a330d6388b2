package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
)

// A dict is an open-addressing hash table of Len fixed-size slots, each
//
//	uint32 state (0 empty, 1 used, 2 deleted), uint32 key length,
//	uint32 value length, uint32 reserved, key bytes, value bytes
//
// padded to 8 bytes. Every operation runs under the object's internal lock,
// so each is atomic; a holder killed mid-operation is recovered by the next.

const (
	slotEmpty   = 0
	slotUsed    = 1
	slotDeleted = 2
	slotHeader  = 16
)

// Dict defaults for objects created by pshm dict NAME set.
const (
	DefaultDictLen     = 256
	DefaultDictKeySize = 64
	DefaultDictValSize = 1024
)

// Errors of dict operations.
var (
	ErrNoKey    = errors.New("no such key")
	ErrDictFull = errors.New("dict is full")
)

func dictSlotSize(k, v int) int { return (slotHeader + k + v + 7) &^ 7 }

func (o *Object) dictSizes() (key, val int) {
	le := binary.LittleEndian
	return int(le.Uint32(o.mem[offKeySize:])), int(le.Uint32(o.mem[offValSize:]))
}

// DictSizes returns the largest key and value a dict holds, in bytes.
func (o *Object) DictSizes() (key, val int) { return o.dictSizes() }

type slot []byte

func (s slot) state() uint32 { return binary.LittleEndian.Uint32(s) }
func (s slot) key() []byte   { return s[slotHeader : slotHeader+int(binary.LittleEndian.Uint32(s[4:]))] }
func (s slot) val(keySize int) []byte {
	return s[slotHeader+keySize : slotHeader+keySize+int(binary.LittleEndian.Uint32(s[8:]))]
}

func (o *Object) slot(i int) slot {
	sz := o.ElemSize()
	return slot(o.mem[DataOffset+i*sz : DataOffset+(i+1)*sz])
}

// find returns the slot holding key, or (if absent) the first free slot on
// its probe path (-1 when the table is full).
func (o *Object) find(key string) (at int, found bool) {
	n := o.Len()
	h := fnv.New64a()
	h.Write([]byte(key))
	start := int(h.Sum64() % uint64(n))
	free := -1
	for k := 0; k < n; k++ {
		i := (start + k) % n
		s := o.slot(i)
		switch s.state() {
		case slotEmpty:
			if free < 0 {
				free = i
			}
			return free, false
		case slotDeleted:
			if free < 0 {
				free = i
			}
		case slotUsed:
			if string(s.key()) == key {
				return i, true
			}
		}
	}
	return free, false
}

func (o *Object) dictOp(f func() error) error {
	if err := o.want(KindDict); err != nil {
		return err
	}
	return o.withOpLock(f)
}

// CheckDictEntry validates a key and value against the dict's sizes.
func (o *Object) CheckDictEntry(key, val string) error {
	if err := o.want(KindDict); err != nil {
		return err
	}
	ks, vs := o.dictSizes()
	if key == "" || len(key) > ks {
		return fmt.Errorf("key %q: want 1..%d bytes: %w", key, ks, ErrShape)
	}
	if len(val) > vs {
		return fmt.Errorf("value for %q is %d bytes, more than %s holds (%d): %w", key, len(val), o.Name, vs, ErrShape)
	}
	return nil
}

// DictSet stores key=val.
func (o *Object) DictSet(key, val string) error {
	if err := o.CheckDictEntry(key, val); err != nil {
		return err
	}
	ks, _ := o.dictSizes()
	err := o.dictOp(func() error {
		i, _ := o.find(key)
		if i < 0 {
			return fmt.Errorf("%s: %w (%d entries)", o.Name, ErrDictFull, o.Len())
		}
		s := o.slot(i)
		le := binary.LittleEndian
		copy(s[slotHeader:], key)
		copy(s[slotHeader+ks:], val)
		le.PutUint32(s[4:], uint32(len(key)))
		le.PutUint32(s[8:], uint32(len(val)))
		le.PutUint32(s, slotUsed)
		return nil
	})
	if err == nil {
		o.Changed()
	}
	return err
}

// DictGet returns the value of key.
func (o *Object) DictGet(key string) (val string, err error) {
	ks, _ := o.dictSizes()
	err = o.dictOp(func() error {
		i, found := o.find(key)
		if !found {
			return fmt.Errorf("%s: %w %q", o.Name, ErrNoKey, key)
		}
		val = string(o.slot(i).val(ks))
		return nil
	})
	return val, err
}

// DictDel removes key.
func (o *Object) DictDel(key string) error {
	err := o.dictOp(func() error {
		i, found := o.find(key)
		if !found {
			return fmt.Errorf("%s: %w %q", o.Name, ErrNoKey, key)
		}
		binary.LittleEndian.PutUint32(o.slot(i), slotDeleted)
		return nil
	})
	if err == nil {
		o.Changed()
	}
	return err
}

// DictItems returns every entry, sorted by key.
func (o *Object) DictItems() (keys, vals []string, err error) {
	ks, _ := o.dictSizes()
	type kv struct{ k, v string }
	var items []kv
	err = o.dictOp(func() error {
		for i := 0; i < o.Len(); i++ {
			if s := o.slot(i); s.state() == slotUsed {
				items = append(items, kv{string(s.key()), string(s.val(ks))})
			}
		}
		return nil
	})
	sort.Slice(items, func(i, j int) bool { return items[i].k < items[j].k })
	for _, it := range items {
		keys, vals = append(keys, it.k), append(vals, it.v)
	}
	return keys, vals, err
}
