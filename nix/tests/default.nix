# The NixOS tests; each needs a machine that can run VMs (KVM).
{ pkgs, module }:
{
  vm = import ./vm.nix { inherit pkgs module; };
}
