package patch

import "testing"

func TestCacheGuard(t *testing.T) {
	var g CacheGuard[string]
	if g.Behind("a", "1") {
		t.Fatal("nothing written: never behind")
	}
	g.Wrote("a", "1", "2") // a spec patch over 1, then a status patch over 2; the cache may serve either
	g.Wrote("b")           // no write: nothing to remember
	for _, rv := range []string{"1", "2", "1"} {
		if !g.Behind("a", rv) {
			t.Fatalf("version %s was replaced by our write: behind", rv)
		}
	}
	if g.Behind("b", "1") {
		t.Fatal("b was not written")
	}
	if g.Behind("a", "3") {
		t.Fatal("version 3 is our write (or later): not behind")
	}
	if g.Behind("a", "1") {
		t.Fatal("once a newer version was read, the write is forgotten")
	}
	g.Wrote("a", "5")
	g.Forget("a")
	if g.Behind("a", "5") {
		t.Fatal("forgotten")
	}
}
