module github.com/qpidha/qpidha

go 1.23

require (
	github.com/Azure/go-amqp v1.6.0
	github.com/sirupsen/logrus v1.9.3
)

require golang.org/x/sys v0.0.0-20220715151400-c0bba94af5f8 // indirect
