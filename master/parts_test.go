package master

import (
	"fmt"
	"reflect"
	"testing"
)

// TestPartsHoldNoMaster: Master is the composition of its parts and
// their lifecycle (issue #12), so none of the parts (the core, the
// registry, the dispatcher, the scheduler, the group callbacks, the wire
// service, the operator and the HTTP side) reaches the *Master back
// through any field, however deep. (A closure's captures are out of
// reflect's sight: those are read in review.)
func TestPartsHoldNoMaster(t *testing.T) {
	m, err := New(Config{Store: StoreMemory, Listen: "127.0.0.1:0", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	awaitReadyT(m)
	// Closed, so that no goroutine of the master runs while the walk
	// reads its parts.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	parts := []struct {
		name string
		part any
	}{
		{"core", m.core}, {"registry", m.reg}, {"dispatcher", m.disp}, {"scheduler", m.sched},
		{"hooks", m.core.hooks}, {"wire", m.wire}, {"operator", m.ops}, {"httpAPI", m.api},
	}
	for _, p := range parts {
		if v := reflect.ValueOf(p.part); v.Kind() == reflect.Pointer && v.IsNil() {
			t.Errorf("%s: nil after Start", p.name)
			continue
		}
		if path := reachMaster(reflect.ValueOf(p.part), p.name, make(map[visit]bool)); path != "" {
			t.Errorf("%s holds the *Master: %s", p.name, path)
		}
	}
	// The walk finds a *Master where there is one, behind an interface.
	holder := &struct{ x any }{x: m}
	if path := reachMaster(reflect.ValueOf(holder), "holder", make(map[visit]bool)); path != "holder.x" {
		t.Errorf("a *Master behind an interface field: found at %q, want holder.x", path)
	}
}

// visit is a pointer the walk has been through, with its type.
type visit struct {
	p uintptr
	t reflect.Type
}

var masterType = reflect.TypeFor[*Master]()

// reachMaster returns the path from v (named path) to a *Master, or "".
func reachMaster(v reflect.Value, path string, seen map[visit]bool) string {
	if !v.IsValid() {
		return ""
	}
	if v.Type() == masterType && !v.IsNil() {
		return path
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if v.IsNil() {
			return ""
		}
		k := visit{v.Pointer(), v.Type()}
		if seen[k] {
			return ""
		}
		seen[k] = true
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return reachMaster(v.Elem(), path, seen)
	case reflect.Struct:
		for i := range v.NumField() {
			if p := reachMaster(v.Field(i), path+"."+v.Type().Field(i).Name, seen); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p := reachMaster(v.Index(i), fmt.Sprintf("%s[%d]", path, i), seen); p != "" {
				return p
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if p := reachMaster(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), seen); p != "" {
				return p
			}
		}
	}
	return ""
}
