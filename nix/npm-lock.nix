# package-lock.json with a `resolved` URL for every registry package.
#
# importNpmLock fetches each package from its `resolved` URL and checks it
# against `integrity`; an entry without `resolved` is not fetched at all, and
# the offline `npm install` then fails. npm leaves `resolved` out when
# `omit-lockfile-registry-resolved` is set (this repository's lock file is
# written that way), so it is filled in here from npm's tarball convention:
#   <registry>/<name>/-/<name without scope>-<version>.tgz
# The integrity hash stays the one npm recorded, so a wrong guess fails the
# fetch instead of installing something else.
#
# Plain builtins only: `nix-instantiate --eval` runs it without nixpkgs (see
# test/nix/npm-lock.test.ts).
{
  lock,
  # The npm registry, without a trailing slash (package.nix takes nixpkgs' npm mirror).
  registry,
}:
let
  inherit (builtins)
    elemAt
    length
    mapAttrs
    match
    split
    filter
    isString
    ;

  # "node_modules/a/node_modules/@s/b" -> "@s/b"
  nameOf =
    key:
    let
      parts = filter isString (split "node_modules/" key);
    in
    elemAt parts (length parts - 1);

  baseName =
    name:
    let
      scoped = match "@[^/]+/(.+)" name;
    in
    if scoped == null then name else elemAt scoped 0;

  withResolved =
    key: entry:
    if key == "" || entry ? resolved || entry.link or false || !(entry ? integrity) then
      entry
    else
      let
        name = entry.name or (nameOf key);
      in
      entry // { resolved = "${registry}/${name}/-/${baseName name}-${entry.version}.tgz"; };
in
lock // { packages = mapAttrs withResolved lock.packages; }
