package brokerd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/config"
)

// Version is set at build time.
var Version = "dev"

// Main runs qpidd with command-line arguments and environment and returns
// the process exit code.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	if help, version := config.HelpRequested(args); help || version {
		if version {
			fmt.Fprintf(stdout, "qpidd (qpidha) %s\n", Version)
		} else {
			fmt.Fprint(stdout, config.Help())
		}
		return 0
	}
	opts, warnings, err := config.Load(args, environ)
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: %v\n", err)
		return 1
	}
	log, err := newLogger(opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: %v\n", err)
		return 1
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	b, err := New(opts, log)
	if err != nil {
		log.Error(err)
		return 1
	}
	if err := b.Start(); err != nil {
		log.Error(err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	log.WithField("signal", sig.String()).Info("shutting down")
	b.Stop()
	return 0
}

func newLogger(opts *config.Options, stderr io.Writer) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02 15:04:05.000000"})
	level, err := logLevel(opts.LogLevel)
	if err != nil {
		return nil, err
	}
	log.SetLevel(level)
	log.SetOutput(stderr)
	if opts.LogToFile != "" {
		f, err := os.OpenFile(opts.LogToFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("log-to-file: %w", err)
		}
		if opts.LogToStderr {
			log.SetOutput(io.MultiWriter(stderr, f))
		} else {
			log.SetOutput(f)
		}
	}
	return log, nil
}

// logLevel maps the original's level names to logrus levels.
func logLevel(name string) (logrus.Level, error) {
	switch name {
	case "trace":
		return logrus.TraceLevel, nil
	case "debug":
		return logrus.DebugLevel, nil
	case "info", "notice", "":
		return logrus.InfoLevel, nil
	case "warning":
		return logrus.WarnLevel, nil
	case "error":
		return logrus.ErrorLevel, nil
	case "critical":
		return logrus.FatalLevel, nil
	}
	return 0, errors.New("log-level: unknown level " + strconv.Quote(name))
}
