// Package deploytest tests the Ansible roles and playbooks of ../ as a
// field engineer would run them, against Debian hosts running systemd in
// Docker containers (a rootfs made with mmdebstrap and `docker import`;
// there is no registry to pull from): lint, converge, idempotence, check
// mode, what the deployment must do (a cluster with a leader, a dossier
// received at a node reaching central, the units' hardening in force, a
// host restart survived), a node's backup, a rolling upgrade during
// which no two members are down together and writes are refused for no
// longer than an election, and a node's machine destroyed and replaced,
// its data restored from central.
//
// It runs with XASO_ANSIBLE=1 (make ansible-test), and needs docker,
// ansible, ansible-lint and mmdebstrap on the machine. A failing run keeps
// the services' journals in ansible-out/, and its containers too with
// XASO_ANSIBLE_KEEP=1.
package deploytest
