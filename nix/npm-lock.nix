# What the Nix build takes from package-lock.json: which tarballs the
# dependency fetch (npm-deps.nix) brings, and the lock file the offline
# install reads, every such entry pointed at its tarball.
#
# The lock file holds no `resolved` URLs (it is written with
# `omit-lockfile-registry-resolved`, so no file here names a registry's host);
# a package is fetched by name and version with npm's own default registry
# and checked against the `integrity` the lock recorded. Nothing else names
# where it came from: the offline install finds each package at
# `file:<deps>/<name>/<version>.tgz`, the way nixpkgs' importNpmLock points
# entries at the store paths it fetched.
#
# Plain builtins only: `nix-instantiate --eval` runs it without nixpkgs (see
# test/nix/npm-deps.test.ts, which fetches the same list and checks the hash).
{
  # package-lock.json (lockfileVersion 2 or 3), parsed.
  lock,
  # The platforms the package is built for, in npm's words (`os`, `cpu`).
  # An optional package whose `os` or `cpu` rules all of them out is never
  # installed there, so it is not fetched (esbuild's and Biome's binaries for
  # other systems are most of the download); the list is the same on every
  # build platform, and so is the fixed output's hash.
  platforms,
}:
let
  inherit (builtins)
    attrNames
    attrValues
    any
    elem
    elemAt
    filter
    isString
    length
    listToAttrs
    map
    mapAttrs
    match
    sort
    split
    substring
    ;

  # "node_modules/a/node_modules/@s/b" -> "@s/b"
  nameOf =
    key:
    let
      parts = filter isString (split "node_modules/" key);
    in
    elemAt parts (length parts - 1);

  # npm's own test (npm-install-checks): a `!x` excludes x; otherwise a list
  # with any plain entry must hold the value.
  allows =
    list: value:
    let
      plain = filter (v: substring 0 1 v != "!") list;
    in
    !(elem "!${value}" list) && (plain == [ ] || elem value plain);
  runsOn = entry: any (p: allows (entry.os or [ ]) p.os && allows (entry.cpu or [ ]) p.cpu) platforms;

  # Entries npm installs from the registry: those under a node_modules/ (not
  # the root or a workspace's folder), not a link to a workspace, not a
  # package bundled inside another's tarball.
  fromRegistry =
    key: entry: match ".*node_modules/.*" key != null && !(entry.link or false) && !(entry.inBundle or false);
  registryKeys = filter (key: fromRegistry key lock.packages.${key}) (attrNames lock.packages);

  tarballOf =
    key:
    let
      entry = lock.packages.${key};
      # An alias (`"x": "npm:real@1"`) records the real name in `name`.
      name = entry.name or (nameOf key);
    in
    if !(entry ? integrity) then
      throw "package-lock.json: ${key} has no `integrity` (a git, file or remote tarball dependency); nix/npm-lock.nix fetches only registry packages, each checked against its integrity."
    else
      {
        inherit name;
        inherit (entry) version integrity;
        # One directory per package name: no two packages share a file, and a
        # scoped name (`@s/b`) is two directories deep.
        file = "${name}/${entry.version}.tgz";
      };

  fetchedKeys = filter (key: !(lock.packages.${key}.optional or false) || runsOn lock.packages.${key}) registryKeys;
  fetched = listToAttrs (
    map (key: {
      name = key;
      value = tarballOf key;
    }) fetchedKeys
  );

  # The same package at the same version may be locked at several places.
  byFile = listToAttrs (
    map (t: {
      name = t.file;
      value = t;
    }) (attrValues fetched)
  );
in
{
  # Sorted by file, each once: what the fixed-output derivation fetches, in order.
  tarballs = sort (a: b: a.file < b.file) (attrValues byFile);

  # The lock file for the offline install, given where the tarballs are:
  # each fetched entry's `resolved` is its tarball; the others are left as
  # they were (npm skips an optional package for another platform without
  # reading it).
  lockWith =
    deps:
    lock
    // {
      packages = mapAttrs (
        key: entry:
        if fetched ? ${key} then entry // { resolved = "file:${deps}/${fetched.${key}.file}"; } else entry
      ) lock.packages;
    };
}
