package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

// runTokenCreate creates an API token and prints only the token.
func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token create", stderr)
	name := fs.String("name", "", "what the token is for (required)")
	scopes := fs.String("scopes", "", "comma-separated scopes: activities:read, activities:write, activities:export, admin (required)")
	user := fs.String("user", "", "the user the token acts for; without it, a machine account")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h; 0 never expires")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	perms, err := auditlog.ParsePermissions("--scopes", *scopes)
	if err != nil {
		return err
	}
	if len(perms) == 0 {
		return auditlog.FieldErrorf("--scopes", "--scopes is required")
	}
	if *expires < 0 {
		return auditlog.FieldErrorf("--expires", "--expires must not be negative")
	}
	nt := auditlog.NewToken{Name: *name, Scopes: perms, Username: *user}
	if *expires > 0 {
		nt.Expires = time.Now().Add(*expires)
	}
	store, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	secret := auditlog.GenerateTokenSecret()
	if _, err := store.CreateToken(ctx, nt, secret); err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// runGroupCreate creates a permission group.
func runGroupCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("group create", stderr)
	name := fs.String("name", "", "the group's name (required)")
	perms := fs.String("permissions", "", "comma-separated permissions: activities:read, activities:write, activities:export, admin")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ps, err := auditlog.ParsePermissions("--permissions", *perms)
	if err != nil {
		return err
	}
	store, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	g, err := store.CreateGroup(ctx, *name, ps)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created permission group %q (id %d) with permissions [%s]\n", g.Name, g.ID, strings.Join(permNames(g.Permissions), ", "))
	return nil
}

// runUserCreate creates a user. With --password-stdin the password is read
// from the first line of standard input; otherwise one is generated and
// printed once.
func runUserCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user create", stderr)
	username := fs.String("username", "", "the user's login name (required)")
	group := fs.String("group", "", "an existing permission group (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *group == "" {
		return auditlog.FieldErrorf("--group", "--group is required")
	}
	pw := password.Generate()
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if len(pw) < password.MinLength {
			return auditlog.FieldErrorf("--password-stdin", "the password must be at least %d characters", password.MinLength)
		}
	}
	store, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := store.CreateUser(ctx, *username, *group, password.Hash(pw, password.Default))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %q (id %d) in permission group %q\n", u.Username, u.ID, u.GroupName)
	if !*fromStdin {
		fmt.Fprintf(stdout, "password: %s\n", pw)
	}
	return nil
}

func permNames(ps []auditlog.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}
