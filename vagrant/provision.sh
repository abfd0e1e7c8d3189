#!/bin/sh
# Provisions a node of the Vagrant cluster (vagrant/Vagrantfile): Pacemaker,
# Corosync and pcs from Debian, the qpidha package built in ../dist, the
# node's qpidd.conf from qpid-cluster-conf; with "setup" (the last node up)
# it also creates the cluster and runs the generated pcs-setup.sh.
# Usage: provision.sh NODE join|setup
set -eu

node=$1
role=$2
repo=/qpidha
# Test VMs only: pcs's hacluster password, the same on every node.
password=qpidha-vagrant

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq pacemaker corosync pcs resource-agents

deb=""
for f in "$repo"/dist/qpidha_*_amd64.deb; do
	[ -e "$f" ] && deb=$f
done
[ -n "$deb" ] || { echo "provision.sh: no package in $repo/dist: run make packages first" >&2; exit 1; }
dpkg -i "$deb"

# The nodes know each other by name.
grep -q 'node1$' /etc/hosts || cat >>/etc/hosts <<HOSTS
192.168.56.11 node1
192.168.56.12 node2
192.168.56.13 node3
HOSTS

# This node's broker configuration, generated from the cluster's TOML.
out=$(mktemp -d)
qpid-cluster-conf -o "$out" "$repo/vagrant/cluster.toml"
install -m 0640 -o root -g qpidd "$out/qpidd-$node.conf" /etc/qpid/qpidd.conf

echo "hacluster:$password" | chpasswd
systemctl enable --now pcsd

if [ "$role" = setup ]; then
	pcs host auth node1 node2 node3 -u hacluster -p "$password"
	pcs cluster setup qpidha-vagrant node1 addr=192.168.56.11 node2 addr=192.168.56.12 \
		node3 addr=192.168.56.13 --force
	pcs cluster start --all --wait=120
	pcs cluster enable --all
	sh "$out/pcs-setup.sh"
	pcs status
fi
