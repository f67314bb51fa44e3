package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

// The administrative commands: users, permission groups, API tokens and
// sessions, on the store directly (also while serve runs). Each change is
// recorded in the audit log as the machine's, with the operating-system
// user and host that ran the command in extra.

// cliActor is the actor of a command-line change.
func cliActor(command string) auditlog.Actor {
	client := map[string]string{"client": "auditlog " + command}
	if u, err := user.Current(); err == nil {
		client["os_user"] = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		client["host"] = h
	}
	return auditlog.MachineActor(client)
}

// adminCommand is one administrative subcommand: its flags, a check of
// them, and what it does with the store.
type adminCommand struct {
	name  string
	flags func(fs *flag.FlagSet)
	check func() error
	run   func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error
}

// exec parses args, opens the store and runs the command.
func (c adminCommand) exec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c.name, stderr)
	if c.flags != nil {
		c.flags(fs)
	}
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.check != nil {
		if err := c.check(); err != nil {
			return err
		}
	}
	store, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	return c.run(ctx, store, cliActor(c.name), stdout)
}

// required refuses an empty flag.
func required(flagName, value string) error {
	if strings.TrimSpace(value) == "" {
		return auditlog.FieldErrorf("--"+flagName, "--%s is required", flagName)
	}
	return nil
}

// listCommand is a command that prints what list returns, as a table of
// one row per item under header, or with --json as JSON.
func listCommand[T any](name, header string, list func(auditlog.Store, context.Context) ([]T, error), row func(*T) []string) adminCommand {
	var asJSON bool
	return adminCommand{name: name,
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, store auditlog.Store, _ auditlog.Actor, stdout io.Writer) error {
			items, err := list(store, ctx)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, header)
			for i := range items {
				fmt.Fprintln(tw, strings.Join(row(&items[i]), "\t"))
			}
			return tw.Flush()
		},
	}
}

// readPassword reads the first line of stdin as a password.
func readPassword(stdin io.Reader, flagName string) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := password.Check(flagName, pw); err != nil {
		return "", err
	}
	return pw, nil
}

func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, scopes, username string
	var expires time.Duration
	var perms []auditlog.Permission
	return adminCommand{name: "token create",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "what the token is for (required)")
			fs.StringVar(&scopes, "scopes", "", "comma-separated scopes: activities:read, activities:write, activities:export, log:read, admin (required)")
			fs.StringVar(&username, "user", "", "the user the token acts for; without it, a machine account")
			fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h; 0 never expires")
		},
		check: func() (err error) {
			if perms, err = auditlog.ParsePermissions("--scopes", scopes); err != nil {
				return err
			}
			if len(perms) == 0 {
				return auditlog.FieldErrorf("--scopes", "--scopes is required")
			}
			if expires < 0 {
				return auditlog.FieldErrorf("--expires", "--expires must not be negative")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			nt := auditlog.NewToken{Name: name, Scopes: perms, Username: username}
			if expires > 0 {
				nt.Expires = time.Now().Add(expires).UTC().Truncate(time.Microsecond)
			}
			secret := auditlog.GenerateTokenSecret()
			if _, err := store.CreateToken(ctx, by, nt, secret); err != nil {
				return err
			}
			fmt.Fprintln(stdout, secret)
			return nil
		},
	}.exec(ctx, args, stdout, stderr)
}

func runTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand("token list", "ID\tNAME\tACCOUNT\tSCOPES\tEXPIRES\tSTATE", auditlog.Store.Tokens, func(t *auditlog.Token) []string {
		account, expires, state := t.Username, "never", "active"
		if account == "" {
			account = "(machine)"
		}
		if !t.Expires.IsZero() {
			expires = t.Expires.Format(time.RFC3339)
		}
		if err := auditlog.CheckTokenLive(t, time.Now()); err != nil {
			state = "expired"
			if t.Revoked {
				state = "revoked"
			}
		}
		return []string{strconv.FormatInt(t.ID, 10), t.Name, account, permList(t.Scopes), expires, state}
	}).exec(ctx, args, stdout, stderr)
}

// tokenByID is a command on one token, named by --id.
func tokenByID(name string, act func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64, stdout io.Writer) error) adminCommand {
	var id int64
	return adminCommand{name: name,
		flags: func(fs *flag.FlagSet) { fs.Int64Var(&id, "id", 0, "the token's id, from token list (required)") },
		check: func() error {
			if id <= 0 {
				return auditlog.FieldErrorf("--id", "--id is required (a positive token id)")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			return act(ctx, store, by, id, stdout)
		},
	}
}

func runTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return tokenByID("token revoke", func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64, stdout io.Writer) error {
		t, err := store.RevokeToken(ctx, by, id)
		if err == nil {
			fmt.Fprintf(stdout, "revoked token %d (%q)\n", t.ID, t.Name)
		}
		return err
	}).exec(ctx, args, stdout, stderr)
}

func runTokenReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return tokenByID("token reset", func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64, stdout io.Writer) error {
		secret := auditlog.GenerateTokenSecret()
		if _, err := store.ResetToken(ctx, by, id, secret); err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		return nil
	}).exec(ctx, args, stdout, stderr)
}

func runGroupCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, list string
	var perms []auditlog.Permission
	return adminCommand{name: "group create",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "the group's name (required)")
			fs.StringVar(&list, "permissions", "", "comma-separated permissions: activities:read, activities:write, activities:export, log:read, admin")
		},
		check: func() (err error) {
			perms, err = auditlog.ParsePermissions("--permissions", list)
			return err
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			g, err := store.CreateGroup(ctx, by, name, perms)
			if err == nil {
				fmt.Fprintf(stdout, "created permission group %q (id %d) with permissions [%s]\n", g.Name, g.ID, permList(g.Permissions))
			}
			return err
		},
	}.exec(ctx, args, stdout, stderr)
}

func runGroupEdit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, rename, list string
	var ch auditlog.GroupChange
	return adminCommand{name: "group edit",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "the group to edit (required)")
			fs.StringVar(&rename, "rename", "", "a new name")
			fs.StringVar(&list, "permissions", "", "the new comma-separated permissions (\"\" keeps them; use --permissions=none for none)")
		},
		check: func() error {
			if err := required("name", name); err != nil {
				return err
			}
			if rename != "" {
				ch.Name = &rename
			}
			if list != "" {
				perms := []auditlog.Permission{}
				if list != "none" {
					var err error
					if perms, err = auditlog.ParsePermissions("--permissions", list); err != nil {
						return err
					}
				}
				ch.Permissions = &perms
			}
			if ch.Name == nil && ch.Permissions == nil {
				return auditlog.FieldErrorf("--rename", "give --rename or --permissions")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			g, err := store.UpdateGroup(ctx, by, name, ch)
			if err == nil {
				fmt.Fprintf(stdout, "permission group %q (id %d) has permissions [%s]\n", g.Name, g.ID, permList(g.Permissions))
			}
			return err
		},
	}.exec(ctx, args, stdout, stderr)
}

func runGroupDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var names repeated
	return adminCommand{name: "group delete",
		flags: func(fs *flag.FlagSet) { fs.Var(&names, "name", "a group to delete (repeat for several; all or none)") },
		check: func() error {
			if len(names) == 0 {
				return auditlog.FieldErrorf("--name", "--name is required")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			err := store.DeleteGroups(ctx, by, names)
			if err == nil {
				fmt.Fprintf(stdout, "deleted permission groups %q\n", []string(names))
			}
			return err
		},
	}.exec(ctx, args, stdout, stderr)
}

func runGroupList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand("group list", "ID\tNAME\tPERMISSIONS", auditlog.Store.Groups, func(g *auditlog.Group) []string {
		return []string{strconv.FormatInt(g.ID, 10), g.Name, permList(g.Permissions)}
	}).exec(ctx, args, stdout, stderr)
}

// runUserCreate creates a user. With --password-stdin the password is read
// from the first line of standard input; otherwise one is generated and
// printed once.
func runUserCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var username, group string
	var fromStdin bool
	pw := password.Generate()
	return adminCommand{name: "user create",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&username, "username", "", "the user's login name (required)")
			fs.StringVar(&group, "group", "", "an existing permission group (required)")
			fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
		},
		check: func() (err error) {
			if err := required("group", group); err != nil {
				return err
			}
			if fromStdin {
				pw, err = readPassword(stdin, "--password-stdin")
			}
			return err
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			u, err := store.CreateUser(ctx, by, username, group, password.Hash(pw, password.Default))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created user %q (id %d) in permission group %q\n", u.Username, u.ID, u.GroupName)
			if !fromStdin {
				fmt.Fprintf(stdout, "password: %s\n", pw)
			}
			return nil
		},
	}.exec(ctx, args, stdout, stderr)
}

func runUserEdit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var username, group string
	var fromStdin, disable, enable bool
	var ch auditlog.UserChange
	return adminCommand{name: "user edit",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&username, "username", "", "the user to edit (required)")
			fs.StringVar(&group, "group", "", "move the user to this permission group")
			fs.BoolVar(&fromStdin, "password-stdin", false, "set the password read from standard input")
			fs.BoolVar(&disable, "disable", false, "disable the user: their sessions end and their tokens stop working")
			fs.BoolVar(&enable, "enable", false, "enable a disabled user")
		},
		check: func() error {
			if err := required("username", username); err != nil {
				return err
			}
			if disable && enable {
				return auditlog.FieldErrorf("--disable", "give --disable or --enable, not both")
			}
			if group != "" {
				ch.Group = &group
			}
			if disable || enable {
				ch.Disabled = &disable
			}
			if fromStdin {
				pw, err := readPassword(stdin, "--password-stdin")
				if err != nil {
					return err
				}
				hash := password.Hash(pw, password.Default)
				ch.PasswordHash = &hash
			}
			if ch == (auditlog.UserChange{}) {
				return auditlog.FieldErrorf("--group", "give --group, --password-stdin, --disable or --enable")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			u, err := store.UpdateUser(ctx, by, username, ch)
			if err == nil {
				fmt.Fprintf(stdout, "user %q is in permission group %q, %s\n", u.Username, u.GroupName, userState(u))
			}
			return err
		},
	}.exec(ctx, args, stdout, stderr)
}

// userByName is a command on one user, named by --username.
func userByName(name string, act func(store auditlog.Store, ctx context.Context, by auditlog.Actor, username string) (*auditlog.User, error)) adminCommand {
	var username string
	return adminCommand{name: name,
		flags: func(fs *flag.FlagSet) { fs.StringVar(&username, "username", "", "the user (required)") },
		check: func() error { return required("username", username) },
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			u, err := act(store, ctx, by, username)
			if err == nil {
				fmt.Fprintf(stdout, "user %q is %s\n", u.Username, userState(u))
			}
			return err
		},
	}
}

func runUserDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return userByName("user delete", auditlog.Store.DeleteUser).exec(ctx, args, stdout, stderr)
}

func runUserRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return userByName("user restore", auditlog.Store.RestoreUser).exec(ctx, args, stdout, stderr)
}

func runUserList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand("user list", "ID\tUSERNAME\tGROUP\tSTATE", auditlog.Store.Users, func(u *auditlog.User) []string {
		return []string{strconv.FormatInt(u.ID, 10), u.Username, u.GroupName, userState(u)}
	}).exec(ctx, args, stdout, stderr)
}

func userState(u *auditlog.User) string {
	switch {
	case u.Deleted:
		return "deleted"
	case u.Disabled:
		return "disabled"
	}
	return "active"
}

func runSessionList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand("session list", "ID\tUSERNAME\tCLIENT\tCREATED\tLAST SEEN\tEXPIRES", auditlog.Store.Sessions, func(s *auditlog.Session) []string {
		return []string{strconv.FormatInt(s.ID, 10), s.Username, s.ClientAddress, s.Created.Format(time.RFC3339),
			s.LastSeen.Format(time.RFC3339), s.Expires.Format(time.RFC3339)}
	}).exec(ctx, args, stdout, stderr)
}

func runSessionRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sel auditlog.SessionSelector
	return adminCommand{name: "session revoke",
		flags: func(fs *flag.FlagSet) {
			fs.Int64Var(&sel.ID, "id", 0, "end the session with this id")
			fs.StringVar(&sel.Username, "user", "", "end every session of this user")
			fs.StringVar(&sel.Group, "group", "", "end every session of this permission group's users")
		},
		check: func() error {
			given := 0
			for _, set := range []bool{sel.ID != 0, sel.Username != "", sel.Group != ""} {
				if set {
					given++
				}
			}
			if given != 1 {
				return auditlog.FieldErrorf("--id", "give exactly one of --id, --user and --group")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			n, err := store.RevokeSessions(ctx, by, sel)
			if err == nil {
				fmt.Fprintln(stdout, "ended", auditlog.CountOf(int64(n), "session", "sessions"))
			}
			return err
		},
	}.exec(ctx, args, stdout, stderr)
}

func permList(ps []auditlog.Permission) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return strings.Join(out, ",")
}

// runActivityTypeCreate registers a custom activity type; its system name
// and its subtypes' are derived from their display names, as the
// catalogue's are.
func runActivityTypeCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var display, description, subtypes string
	return adminCommand{name: "activity-type create",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&display, "display-name", "", "the type's display name, such as \"Approve Invoice\" (required)")
			fs.StringVar(&description, "description", "", "what the activity is")
			fs.StringVar(&subtypes, "subtypes", "", "comma-separated display names of its subtypes, such as \"By Rule,Manually\"")
		},
		check: func() error { return required("display-name", display) },
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			t := auditlog.ActivityType{DisplayName: display, Description: description, Subtypes: auditlog.SubtypesNamed(subtypes)}
			made, err := store.CreateActivityType(ctx, by, t)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "registered activity type %q as %s\n", made.DisplayName, made.SystemName)
			for _, sub := range made.Subtypes {
				fmt.Fprintf(stdout, "  subtype %q as %s\n", sub.DisplayName, sub.SystemName)
			}
			return nil
		},
	}.exec(ctx, args, stdout, stderr)
}

func runActivityTypeList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand("activity-type list", "SYSTEM NAME\tDISPLAY NAME\tSUBTYPES\tCUSTOM", auditlog.Store.ActivityTypes, func(t *auditlog.ActivityType) []string {
		var subs []string
		for _, s := range t.Subtypes {
			subs = append(subs, s.SystemName)
		}
		return []string{t.SystemName, t.DisplayName, strings.Join(subs, ","), strconv.FormatBool(t.Custom)}
	}).exec(ctx, args, stdout, stderr)
}
