//go:build linux

package userns

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func fakeSysctl(t *testing.T, values map[string]string) {
	old := sysctl
	sysctl = func(name string) string { return values[name] }
	t.Cleanup(func() { sysctl = old })
}

func TestExplainNamesTheSetting(t *testing.T) {
	for _, tt := range []struct {
		sysctls map[string]string
		want    string
	}{
		{map[string]string{"kernel/unprivileged_userns_clone": "0"}, "kernel.unprivileged_userns_clone"},
		{map[string]string{"user/max_user_namespaces": "0"}, "user.max_user_namespaces"},
	} {
		fakeSysctl(t, tt.sysctls)
		err := explain(nil)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "root") {
			t.Errorf("sysctls %v: %v; want ErrUnsupported naming %s and root", tt.sysctls, err, tt.want)
		}
	}
	fakeSysctl(t, map[string]string{"kernel/unprivileged_userns_clone": "1", "user/max_user_namespaces": "63000"})
	if err := explain(nil); err != nil {
		t.Errorf("allowed: %v, want nil", err)
	}
}

func TestDeniedAppArmor(t *testing.T) {
	perm := fmt.Errorf("netns: create: %w", unix.EPERM)
	t.Setenv(envInside, "1")
	fakeSysctl(t, map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"})
	err := Denied(perm)
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.EPERM) ||
		!strings.Contains(err.Error(), "AppArmor") || !strings.Contains(err.Error(), "deploy/apparmor/wgtorrent") {
		t.Errorf("in the copy under AppArmor's restriction: %v; want the AppArmor way out", err)
	}
	if other := errors.New("no space"); Denied(other) != other {
		t.Errorf("an error other than EPERM was rewritten: %v", Denied(other))
	}

	t.Setenv(envInside, "")
	err = Denied(perm)
	if !strings.Contains(err.Error(), "--isolation host") {
		t.Errorf("root without CAP_SYS_ADMIN: %v; want the container's way out", err)
	}
}
