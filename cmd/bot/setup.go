package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/spf13/cobra"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/setup"
)

// setupFlags are bot setup's settings, each defaulting to its
// environment variable.
type setupFlags struct {
	addr, publicURL, setupURL, output, webhookPath string
	overwrite                                      bool
}

// envBool reads a true/false variable; unset is false.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q: want true or false", errUsage, name, v)
	}
	return b, nil
}

// setupAllowed refuses to run the flow once an App is configured
// (GITHUB_APP_ID) unless SETUP_ENABLED=true: whoever completes it decides
// which App the server acts as.
func setupAllowed() (bool, error) {
	enabled, err := envBool("SETUP_ENABLED")
	if err != nil {
		return false, err
	}
	return enabled || os.Getenv("GITHUB_APP_ID") == "", nil
}

// newSetupHandler is the setup flow for cmd/bot: app.yml, GitHub's URLs
// from GITHUB_URL and GITHUB_API_URL, the output beside the data.
func newSetupHandler(f setupFlags, dataDir, token string, disabled bool, convertTimeout time.Duration) (*setup.Handler, error) {
	app, err := setup.ParseAppFile(linuxbuilder.AppManifest)
	if err != nil {
		return nil, err
	}
	gh, err := setup.GitHubFrom(os.Getenv("GITHUB_URL"), os.Getenv("GITHUB_API_URL"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	path := f.output
	if path == "" {
		path = filepath.Join(dataDir, "github-app.env")
	}
	out, err := setup.NewOutput(path, f.overwrite)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	h, err := setup.New(setup.Config{App: app, PublicURL: f.publicURL, SetupURL: f.setupURL, WebhookPath: f.webhookPath,
		GitHub: gh, Output: out, Token: token, Disabled: disabled, ConvertTimeout: convertTimeout, Logger: slog.Default()})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return h, nil
}

func newSetupToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("setup token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func newSetupCmd() *cobra.Command {
	var (
		f  setupFlags
		sf storeFlags
	)
	overwrite, overwriteErr := envBool("SETUP_OVERWRITE")
	webhookPath := os.Getenv("WEBHOOK_PATH")
	if webhookPath == "" {
		webhookPath = "/webhook"
	}
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Register the GitHub App with GitHub's App-manifest flow, in a browser",
		Long: `Setup serves only the App-manifest flow, on a loopback address, and prints a
link with a one-time token: open it, pick the owner (your account or an
organisation) and the App's name, confirm on GitHub, and GitHub sends the
browser back here. The App's id, private key, webhook secret and OAuth
client are written to --output (SETUP_OUTPUT, default <data-dir>/github-app.env,
mode 0600; the key to a .pem beside it); an existing file is not replaced
unless --overwrite (SETUP_OVERWRITE=true). Setup then exits.

--public-url (PUBLIC_URL) is where GitHub will reach the server: the App's
URL, its webhook (PUBLIC_URL + WEBHOOK_PATH) and OAuth callback
(PUBLIC_URL/auth/callback). --setup-url is where the browser reaches this
command (default http://ADDR: a browser on this machine, or through
ssh -L 3000:127.0.0.1:3000). GitHub Enterprise Server: GITHUB_URL (web)
and/or GITHUB_API_URL (https://HOST/api/v3). Once GITHUB_APP_ID is set,
setup refuses to run unless SETUP_ENABLED=true.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if overwriteErr != nil {
				return overwriteErr
			}
			return runSetup(cmd, f, sf.dataDir)
		},
	}
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:3000", "loopback address to listen on")
	cmd.Flags().StringVar(&f.publicURL, "public-url", os.Getenv("PUBLIC_URL"), "the server's public URL, as GitHub reaches it (env PUBLIC_URL)")
	cmd.Flags().StringVar(&f.setupURL, "setup-url", "", "where the browser reaches this command (default http://ADDR)")
	cmd.Flags().StringVar(&f.output, "output", os.Getenv("SETUP_OUTPUT"), "environment file to write (env SETUP_OUTPUT; default <data-dir>/github-app.env)")
	cmd.Flags().BoolVar(&f.overwrite, "overwrite", overwrite, "replace existing output files (env SETUP_OVERWRITE)")
	cmd.Flags().StringVar(&f.webhookPath, "webhook-path", webhookPath, "the webhook's path on the server (env WEBHOOK_PATH)")
	sf.registerDataDir(cmd)
	return cmd
}

func runSetup(cmd *cobra.Command, f setupFlags, dataDir string) error {
	ok, err := setupAllowed()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: a GitHub App is configured (GITHUB_APP_ID); set SETUP_ENABLED=true to register another", errUsage)
	}
	host, _, err := net.SplitHostPort(f.addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return fmt.Errorf("%w: --addr %q: want a loopback address such as 127.0.0.1:3000 (setup hands out the App's credentials)", errUsage, f.addr)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", f.addr, err)
	}
	defer ln.Close()
	if f.setupURL == "" {
		f.setupURL = "http://" + ln.Addr().String()
	}
	token, err := newSetupToken()
	if err != nil {
		return err
	}
	h, err := newSetupHandler(f, dataDir, token, false, setup.DefaultConvertTimeout)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: setup.DefaultConvertTimeout + 10*time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// The token is printed, never logged: it opens the flow.
	fmt.Fprintf(cmd.OutOrStdout(), "Open %s%s?token=%s to register the GitHub App.\n", f.setupURL, setup.Path, token)
	select {
	case err := <-served:
		return fmt.Errorf("setup server: %w", err)
	case <-ctx.Done():
	case <-h.Done():
		fmt.Fprintln(cmd.OutOrStdout(), "The GitHub App is registered; its credentials are written. Install it, then start bot serve with them.")
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown lets the success page finish.
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("setup server shutdown", logging.KeyErr, err)
	}
	return nil
}

// mountSetup adds the setup flow to bot serve's app when SETUP_ENABLED
// is true (the server already has an App: this registers another). It
// needs SETUP_TOKEN (at least 16 characters) and PUBLIC_URL; the
// conversion must fit the server's 10-second write timeout.
func mountSetup(app *fiber.App, dataDir, webhookPath string) error {
	enabled, err := envBool("SETUP_ENABLED")
	if err != nil || !enabled {
		return err
	}
	token := os.Getenv("SETUP_TOKEN")
	if len(token) < 16 {
		return fmt.Errorf("%w: SETUP_ENABLED=true needs SETUP_TOKEN, a secret of at least 16 characters that opens /setup", errUsage)
	}
	overwrite, err := envBool("SETUP_OVERWRITE")
	if err != nil {
		return err
	}
	f := setupFlags{publicURL: os.Getenv("PUBLIC_URL"), output: os.Getenv("SETUP_OUTPUT"), overwrite: overwrite, webhookPath: webhookPath}
	h, err := newSetupHandler(f, dataDir, token, false, 8*time.Second)
	if err != nil {
		return err
	}
	handler := adaptor.HTTPHandler(h)
	app.Get(setup.Path, handler)
	app.Get(setup.CallbackPath, handler)
	slog.Info("GitHub App setup enabled", "path", setup.Path)
	return nil
}
