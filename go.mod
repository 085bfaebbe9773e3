module github.com/drover/drover

go 1.25

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/kolo/xmlrpc v0.0.0-20220921171641-a4b6fa1dd06b
	github.com/sirupsen/logrus v1.10.2
	go.etcd.io/bbolt v1.4.3
)

require golang.org/x/sys v0.29.0 // indirect
