package driver

import (
	"sync"
	"testing"
)

func TestExpiresAt(t *testing.T) {
	for _, tc := range []struct {
		own              Expiry
		updated, def, at int64
	}{
		{Expiry{}, 100, 0, 0},
		{Expiry{}, 100, 50, 150},
		{Expiry{TTL: 10}, 100, 50, 110},
		{Expiry{At: 7}, 100, 50, 7},
		{Expiry{At: 7}, 100, 0, 7},
	} {
		if got := ExpiresAt(tc.own, tc.updated, tc.def); got != tc.at {
			t.Errorf("ExpiresAt(%+v, %d, %d) = %d, want %d", tc.own, tc.updated, tc.def, got, tc.at)
		}
	}
	if Expired(0, 1<<62) || Expired(101, 100) || !Expired(100, 100) {
		t.Error("Expired: 0 is never, and a history expires at its time")
	}
}

func TestPolicyTTL(t *testing.T) {
	var p Policy
	if p.TTL("x") != 0 || p.Now() <= 0 {
		t.Fatal("the zero Policy has no default and tells the time")
	}
	p.SetTTL("", 1000)
	p.SetTTL("tenant:a:", 10)
	p.SetTTL("tenant:a:vip:", 20)
	p.SetTTL("tenant:b:", 30)
	for id, want := range map[string]int64{
		"x": 1000, "tenant:a:x": 10, "tenant:a:vip:x": 20, "tenant:a:vip": 10, "tenant:b:": 30, "tenant:c:x": 1000, "": 1000,
	} {
		if got := p.TTL(id); got != want {
			t.Errorf("TTL(%q) = %d, want %d", id, got, want)
		}
	}
	p.SetTTL("tenant:a:", 0)
	if got := p.TTL("tenant:a:x"); got != 1000 {
		t.Errorf("after removing the prefix's default: %d, want the store's", got)
	}
	if got := p.ExpiresAt("tenant:a:vip:x", Expiry{}, 5); got != 25 {
		t.Errorf("Policy.ExpiresAt = %d, want 25", got)
	}
	p.SetClock(func() int64 { return 42 })
	if p.Now() != 42 {
		t.Errorf("Now after SetClock: %d", p.Now())
	}
	// Changes race with lookups.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				p.SetTTL("p"+string(rune('a'+i)), int64(j+1))
				_ = p.TTL("pa/x")
			}
		}()
	}
	wg.Wait()
	if got := p.TTL("pd/x"); got != 200 {
		t.Errorf("after the racing changes: %d, want 200", got)
	}
}
