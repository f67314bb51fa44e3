package password

import (
	"strings"
	"testing"

	"github.com/auditlog/auditlog"
)

var fast = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerifies(t *testing.T) {
	h := Hash("correct horse battery", fast)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", h)
	}
	for _, c := range []struct {
		password string
		want     bool
	}{{"correct horse battery", true}, {"correct horse batterz", false}, {"", false}} {
		ok, err := Verify(c.password, h)
		if err != nil || ok != c.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", c.password, ok, err, c.want)
		}
	}
	if Hash("x", fast) == Hash("x", fast) {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := Verify("x", h); err == nil {
			t.Errorf("Verify accepted %q", h)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("pw", Hash("pw", fast))
	f.Add("pw", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, pw, encoded string) {
		if strings.Contains(encoded, "m=") && !strings.Contains(encoded, "m=64,") {
			return // bound the memory a fuzzed hash may ask for
		}
		_, _ = Verify(pw, encoded)
	})
}

func TestGenerateIsLongAndRandom(t *testing.T) {
	a, b := Generate(), Generate()
	if len(a) < MinLength || a == b {
		t.Fatalf("Generate gave %q and %q", a, b)
	}
}

func TestCheckNamesTheFieldOfAPasswordOutOfBounds(t *testing.T) {
	for _, c := range []struct {
		pw   string
		want string
	}{
		{strings.Repeat("x", MinLength-1), "at least"},
		{strings.Repeat("x", MaxLength+1), "at most"},
	} {
		err := Check("--password-stdin", c.pw)
		if auditlog.ErrorCode(err) != auditlog.EINVALID || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "(--password-stdin)") {
			t.Errorf("a password of %d bytes: %v", len(c.pw), err)
		}
	}
	for _, n := range []int{MinLength, MaxLength} {
		if err := Check("password", strings.Repeat("x", n)); err != nil {
			t.Errorf("a password of %d bytes: %v", n, err)
		}
	}
}
