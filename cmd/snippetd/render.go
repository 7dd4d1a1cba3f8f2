package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/render"
	"github.com/snippetd/snippetd/web"
)

// renderCmd runs `snippetd render <snippet> [--in file.json] [--json]`:
// it reads the same body as POST /v1/render/{snippet} (stdin by default)
// and prints the same partial, for storefronts that generate templates at
// build time. The snippet "batch" takes the body of POST /v1/render.
func renderCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snippetd render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: snippetd render <snippet> [flags]\n\nsnippets: %s, batch\n\nflags:\n", strings.Join(render.Names, ", "))
		fs.PrintDefaults()
	}
	in := fs.String("in", "", "read the request body from this file instead of stdin")
	asJSON := fs.Bool("json", false, `print {"html","pushes"} instead of the partial`)
	publicKey := fs.String("public-key", os.Getenv("SNIPPETD_PUBLIC_KEY"), "default Klaviyo public key for the loader (env SNIPPETD_PUBLIC_KEY)")
	nonce := fs.String("nonce", "", "CSP nonce to put on every script element")

	// The snippet name comes first; flags may follow it.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		fs.Usage()
		return errors.New("render: name a snippet")
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("render: unexpected arguments %q", fs.Args())
	}

	var body []byte
	var err error
	if *in != "" {
		body, err = os.ReadFile(*in)
	} else {
		body, err = io.ReadAll(stdin)
	}
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}

	if *nonce != "" {
		ctx = templ.WithNonce(ctx, *nonce)
	}
	helpers, err := web.Embedded()
	if err != nil {
		return err
	}
	rd := render.Renderer{PublicKey: *publicKey, Helpers: helpers}
	var res render.Result
	if name == "batch" {
		res, err = rd.RenderBatch(ctx, body)
	} else {
		res, err = rd.Render(ctx, name, body)
	}
	if err != nil {
		return renderError(err)
	}
	if *asJSON {
		_, err = stdout.Write(append(res.AppendJSON(nil), '\n'))
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", res.HTML)
	return err
}

// renderError words a render error for a terminal: the field, then the
// message.
func renderError(err error) error {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Field != "" {
		return fmt.Errorf("render: %s: %s (%s)", e.Field, e.Message, e.Code)
	}
	return fmt.Errorf("render: %s (%s)", e.Message, e.Code)
}
