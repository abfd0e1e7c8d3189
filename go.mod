module github.com/qpidha/qpidha

go 1.23

require (
	github.com/Azure/go-amqp v1.6.0
	github.com/BurntSushi/toml v1.5.0
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/rabbitmq/amqp091-go v1.16.0
	github.com/sirupsen/logrus v1.9.3
	github.com/urfave/cli/v2 v2.27.7
	golang.org/x/sys v0.1.0
)

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)
