# Stand-ins for nixpkgs, for the Nix checks that run with Debian's Nix and no
# nixpkgs (CI). They decide what those checks can see, so they follow one rule:
# a stand-in gives the code under test nothing real nixpkgs lacks. Each name
# here is a name real nixpkgs has, with the meaning it has there for the
# arguments genpush's files pass; what each assumes is said beside it. What
# nixpkgs lacks is missing here too (an npm mirror, `pkgs.genpush` without the
# overlay), and so is much it has: `path` and nixpkgs' own files are not here,
# so a package.nix that read them (as it once read mirrors.nix) fails here.
#
# test/nix/real-nixpkgs-lib.check.ts compares `lib` with a real nixpkgs lib,
# and this file's module evaluation with lib.evalModules, where one is given.
{
  # Where the stand-in packages "are": a directory the test controls, so it
  # can put a runnable genpush at the package's path.
  storeDir ? "/nix/store",
  # A real nixpkgs lib, to check these stand-ins against it (see
  # real-nixpkgs-lib.check.ts): the packages and the option declarations
  # below are then made with it, and modules are evaluated by its evalModules.
  realLib ? null,
}:
let
  inherit (builtins)
    all
    any
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    functionArgs
    genericClosure
    hashString
    head
    intersectAttrs
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    map
    mapAttrs
    pathExists
    stringLength
    substring
    toJSON
    ;

  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  hasSuffix =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    n >= k && substring (n - k) k s == suffix;

  # A package: a record of what it was built from. `outPath` makes it a
  # string where it is interpolated, as a derivation is.
  derivation =
    name: attrs:
    attrs
    // {
      type = "derivation";
      inherit name;
      outPath = "${storeDir}/${substring 0 32 (hashString "sha256" (toJSON [ name (attrs.standIn or "") ]))}-${name}";
    };

  standInLib = rec {
    # lib/attrsets.nix, lib/lists.nix, lib/strings.nix: the same results for
    # the arguments genpush's files pass.
    inherit
      all
      any
      attrNames
      concatStringsSep
      elem
      filter
      hasPrefix
      hasSuffix
      listToAttrs
      mapAttrs
      ;
    attrValues = builtins.attrValues;
    genAttrs =
      names: f:
      listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    filterAttrs =
      pred: set:
      listToAttrs (
        map (n: {
          name = n;
          value = set.${n};
        }) (filter (n: pred n set.${n}) (attrNames set))
      );
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: set: if cond then set else { };
    optionalString = cond: s: if cond then s else "";
    concatMapStrings = f: xs: concatStringsSep "" (map f xs);
    removePrefix = prefix: s: if hasPrefix prefix s then substring (stringLength prefix) (-1) s else s;
    removeSuffix =
      suffix: s: if hasSuffix suffix s then substring 0 (stringLength s - stringLength suffix) s else s;
    replaceStrings = builtins.replaceStrings;
    # lib/strings.nix, lib/asserts.nix.
    versionAtLeast = v1: v2: builtins.compareVersions v1 v2 >= 0;
    assertMsg = pred: msg: pred || builtins.throw msg;
    escapeShellArg =
      s:
      if builtins.match "[[:alnum:],._+:@%/-]+" s == null then
        "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'"
      else
        s;
    escapeShellArgs = xs: concatStringsSep " " (map escapeShellArg xs);
    importJSON = path: builtins.fromJSON (builtins.readFile path);
    # Assumes a package with one output ("out"): real getExe and makeBinPath
    # take the `bin` output where there is one.
    getExe = p: "${p}/bin/${p.meta.mainProgram}";
    makeBinPath = ps: concatStringsSep ":" (map (p: "${p}/bin") ps);

    licenses.mit = {
      spdxId = "MIT";
    };
    # The same list as lib/fetchers.nix.
    fetchers.proxyImpureEnvVars = [
      "http_proxy"
      "https_proxy"
      "ftp_proxy"
      "all_proxy"
      "no_proxy"
      "HTTP_PROXY"
      "HTTPS_PROXY"
      "FTP_PROXY"
      "ALL_PROXY"
      "NO_PROXY"
      "NIX_SSL_CERT_FILE"
    ];

    # lib/fileset: `unions` of paths, and `toSource` copies exactly those files
    # (and everything below a listed directory) into the store, as the real
    # one does; a listed path that does not exist is an error there too.
    fileset = {
      unions =
        paths:
        map (
          p: if pathExists p then toString p else throw "lib.fileset.unions: ${toString p} does not exist."
        ) paths;
      toSource =
        { root, fileset }:
        builtins.path {
          name = "source";
          path = root;
          filter =
            path: _type: any (p: path == p || hasPrefix "${p}/" path || hasPrefix "${path}/" p) fileset;
        };
    };

    # lib/options.nix and lib/modules.nix return exactly these records; the
    # module evaluation below reads them as the module system does.
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        default = false;
        example = true;
        description = "Whether to enable ${name}.";
        type = types.bool;
      };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };

    # lib/types.nix, as far as merging and checking go: `equal` values must
    # agree where several modules set them (mergeEqualOption), `one` may be
    # set once (mergeOneOption).
    types = rec {
      str = {
        name = "str";
        check = isString;
        merge = "equal";
      };
      bool = {
        name = "bool";
        check = isBool;
        merge = "equal";
      };
      package = {
        name = "package";
        check = x: (x.type or null) == "derivation" || (isString x && hasPrefix "/nix/store/" x);
        merge = "one";
      };
      enum = values: {
        name = "enum ${toJSON values}";
        check = x: elem x values;
        merge = "equal";
      };
      ints.between = lo: hi: {
        name = "integer between ${toString lo} and ${toString hi}";
        check = x: isInt x && x >= lo && x <= hi;
        merge = "equal";
      };
      nullOr = t: {
        name = "null or ${t.name}";
        check = x: x == null || t.check x;
        merge = "equal";
      };
      listOf = elemType: {
        name = "list of ${elemType.name}";
        check = isList;
        merge = "list";
        inherit elemType;
      };
      attrsOf = elemType: {
        name = "attribute set of ${elemType.name}";
        check = isAttrs;
        merge = "attrs";
        inherit elemType;
      };
      # A submodule as genpush's options write one: `{ name, ... }: { options = ...; }`.
      submodule = module: {
        name = "submodule";
        check = isAttrs;
        merge = "submodule";
        inherit module;
      };
      anything = {
        name = "anything";
        check = _: true;
        merge = "equal";
      };
    };
  };

  lib =
    if realLib == null then
      standInLib
    # lib.fileset needs builtins.readFileType (Nix 2.14); with Debian's Nix 2.8
    # the real lib keeps this file's fileset, and the check says so.
    else if builtins ? readFileType then
      realLib
    else
      realLib // { inherit (standInLib) fileset; };

  # --- The module system, as far as genpush's modules and README's snippets
  # use it: imports (a path imported twice counts once), `options`/`config`
  # or the shorthand, mkIf and mkMerge pushed down to the options before
  # their conditions are read (as lib/modules.nix does, so a module's
  # `config = mkIf cfg.enable` can read its own options), defaults merged
  # through their types, an undeclared option an error, and assertions.
  # No priorities (mkDefault, mkForce): those fail here, loudly.
  isProp = kind: v: isAttrs v && (v._type or null) == kind;
  isOption = isProp "option";
  showLoc = concatStringsSep ".";

  keysOf =
    loc: def:
    if isProp "if" def then
      keysOf loc def.content
    else if isProp "merge" def then
      concatLists (map (keysOf loc) def.contents)
    else if isAttrs def && !(def ? _type) then
      attrNames def
    else
      throw "The option `${showLoc loc}' is not an option set, but something defines it as ${toJSON def}.";
  defsAt =
    key: def:
    if isProp "if" def then
      map (lib.mkIf def.condition) (defsAt key def.content)
    else if isProp "merge" def then
      concatLists (map (defsAt key) def.contents)
    else if def ? ${key} then
      [ def.${key} ]
    else
      [ ];
  discharge =
    def:
    if isProp "if" def then
      (if def.condition then discharge def.content else [ ])
    else if isProp "merge" def then
      concatLists (map discharge def.contents)
    else if isAttrs def && def ? _type && def._type != "literalExpression" then
      throw "The stand-in module evaluation does not know `${def._type}` (mkDefault, mkForce, …)."
    else
      [ def ];

  evalTree =
    loc: options: defs:
    let
      undeclared = filter (k: !(options ? ${k})) (unique (concatLists (map (keysOf loc) defs)));
    in
    if undeclared != [ ] then
      throw "The option `${showLoc (loc ++ [ (head undeclared) ])}' does not exist."
    else
      mapAttrs (
        k: o:
        let
          here = concatLists (map (defsAt k) defs);
        in
        if isOption o then evalOption (loc ++ [ k ]) o here else evalTree (loc ++ [ k ]) o here
      ) options;

  evalOption =
    loc: option: defs:
    let
      values = concatLists (map discharge defs);
    in
    if values != [ ] then
      merge loc option.type values
    else if option ? default then
      merge loc option.type [ option.default ]
    else
      throw "The option `${showLoc loc}' is used but not defined.";

  merge =
    loc: type: values:
    let
      bad = filter (v: !(type.check v)) values;
    in
    if bad != [ ] then
      throw "A definition for option `${showLoc loc}' is not of type `${type.name}': ${toJSON (head bad)}."
    else if type.merge == "attrs" then
      listToAttrs (
        concatLists (
          map (
            n:
            let
              here = concatLists (map discharge (concatLists (map (defsAt n) values)));
            in
            if here == [ ] then
              [ ]
            else
              [
                {
                  name = n;
                  value = merge (loc ++ [ n ]) type.elemType here;
                }
              ]
          ) (unique (concatLists (map attrNames values)))
        )
      )
    else if type.merge == "list" then
      concatLists (
        map (
          list:
          map (
            x:
            if type.elemType.check x then
              x
            else
              throw "A definition for option `${showLoc loc}' is not of type `${type.name}': ${toJSON x}."
          ) list
        ) values
      )
    else if type.merge == "submodule" then
      let
        name = builtins.elemAt loc (length loc - 1);
        module = type.module;
        config = evalTree loc declared values;
        declared =
          (
            if isFunction module then
              module (
                intersectAttrs (functionArgs module) {
                  inherit name lib config;
                }
              )
            else
              module
          ).options;
      in
      config
    else if type.merge == "unit" && any isList values then
      concatLists (map (v: if isList v then v else [ v ]) values)
    else if type.merge == "one" && length values > 1 then
      throw "The option `${showLoc loc}' is defined multiple times."
    else if !(all (v: v == head values) values) then
      throw "The option `${showLoc loc}' has conflicting definition values: ${toJSON values}."
    else
      head values;

  mergeOptions =
    loc: a: b:
    a
    // mapAttrs (
      k: v:
      if !(a ? ${k}) then
        v
      else if isOption v || isOption a.${k} then
        throw "The option `${showLoc (loc ++ [ k ])}' is declared twice."
      else
        mergeOptions (loc ++ [ k ]) a.${k} v
    ) b;

  # lib.evalModules { modules; specialArgs; }, for NixOS or home-manager as
  # `world` (below) declares the options around genpush's.
  standInEvalModules =
    {
      modules,
      specialArgs ? { },
      world,
    }:
    let
      args = {
        inherit lib pkgs config;
      }
      // specialArgs;
      wrap = key: module: {
        inherit key;
        value =
          let
            m = if isPath module then import module else module;
          in
          if isFunction m then m (intersectAttrs (functionArgs m) args) else m;
      };
      keyOf = parent: i: module: if isPath module then toString module else "${parent}:${toString i}";
      indexed = parent: list: builtins.genList (i: wrap (keyOf parent i (builtins.elemAt list i)) (builtins.elemAt list i)) (length list);
      collected = genericClosure {
        startSet = indexed "module" ([ world ] ++ modules);
        operator = item: indexed item.key (item.value.imports or [ ]);
      };
      parts = map (
        item:
        let
          m = item.value;
        in
        if m ? options || m ? config then
          {
            options = m.options or { };
            config = m.config or { };
          }
        else
          {
            options = { };
            config = removeAttrs m [ "imports" ];
          }
      ) collected;
      options = foldl' (mergeOptions [ ]) { } (map (p: p.options) parts);
      config = evalTree [ ] options (map (p: p.config) parts);
    in
    {
      inherit config;
      failedAssertions = map (a: a.message) (filter (a: !a.assertion) config.assertions);
    };

  evalModules =
    {
      modules,
      specialArgs ? { },
      world,
    }:
    if realLib == null then
      standInEvalModules { inherit modules specialArgs world; }
    else
      let
        config =
          (realLib.evalModules {
            modules = [ world ] ++ modules;
            specialArgs = {
              inherit pkgs;
            }
            // specialArgs;
          }).config;
      in
      {
        inherit config;
        failedAssertions = map (a: a.message) (filter (a: !a.assertion) config.assertions);
      };

  # systemd's unit options (nixos/lib/systemd-unit-options.nix): lists
  # concatenate, other values must agree.
  unitOption =
    if realLib == null then
      {
        name = "systemd option";
        check = _: true;
        merge = "unit";
      }
    else
      realLib.mkOptionType {
        name = "systemd option";
        merge =
          loc: defs:
          if any (def: isList def.value) defs then
            concatLists (map (def: if isList def.value then def.value else [ def.value ]) defs)
          else
            realLib.mergeEqualOption loc defs;
      };

  # The options of NixOS and home-manager that genpush's modules set or read,
  # with their types as there (nixos/modules/system/boot/systemd.nix,
  # system/etc/etc.nix, misc/assertions.nix; home-manager's files.nix,
  # xdg.nix, home-environment.nix), and what the rest of a configuration
  # always sets (home-manager needs home.username and home.homeDirectory).
  worlds = with lib; {
    nixos =
      { pkgs, ... }:
      let
        units =
          extra:
          types.attrsOf (
            types.submodule {
              options = {
                wantedBy = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
              }
              // extra;
            }
          );
      in
      {
        options = {
          assertions = mkOption {
            type = types.listOf types.anything;
            default = [ ];
          };
          environment.systemPackages = mkOption {
            type = types.listOf types.package;
            default = [ ];
          };
          environment.etc = mkOption {
            type = types.attrsOf (
              types.submodule {
                options.source = mkOption { type = types.anything; };
              }
            );
            default = { };
          };
          nix.package = mkOption {
            type = types.package;
            default = pkgs.nix;
          };
          # nixos/modules/config/nix.nix: nix.conf's settings, a freeform attribute set.
          nix.settings = mkOption {
            type = types.attrsOf types.anything;
            default = { };
          };
          systemd.packages = mkOption {
            type = types.listOf types.package;
            default = [ ];
          };
          systemd.paths = mkOption {
            type = units { };
            default = { };
          };
          systemd.timers = mkOption {
            type = units {
              timerConfig = mkOption {
                type = types.attrsOf unitOption;
                default = { };
              };
            };
            default = { };
          };
          systemd.services = mkOption {
            type = units {
              path = mkOption {
                type = types.listOf types.package;
                default = [ ];
              };
              environment = mkOption {
                type = types.attrsOf types.str;
                default = { };
              };
              serviceConfig = mkOption {
                type = types.attrsOf unitOption;
                default = { };
              };
              restartIfChanged = mkOption {
                type = types.bool;
                default = true;
              };
            };
            default = { };
          };
        };
      };

    home-manager =
      { config, ... }:
      {
        options = {
          assertions = mkOption {
            type = types.listOf types.anything;
            default = [ ];
          };
          home.packages = mkOption {
            type = types.listOf types.package;
            default = [ ];
          };
          home.username = mkOption { type = types.str; };
          home.homeDirectory = mkOption { type = types.str; };
          home.profileDirectory = mkOption {
            type = types.str;
            default = "${config.home.homeDirectory}/.nix-profile";
          };
          xdg.configHome = mkOption {
            type = types.str;
            default = "${config.home.homeDirectory}/.config";
          };
          xdg.stateHome = mkOption {
            type = types.str;
            default = "${config.home.homeDirectory}/.local/state";
          };
          xdg.configFile = mkOption {
            type = types.attrsOf (
              types.submodule {
                options = {
                  source = mkOption {
                    type = types.nullOr types.anything;
                    default = null;
                  };
                  text = mkOption {
                    type = types.nullOr types.str;
                    default = null;
                  };
                };
              }
            );
            default = { };
          };
          nix.package = mkOption {
            type = types.nullOr types.package;
            default = null;
          };
        };
        config.home = {
          username = "alice";
          homeDirectory = "/home/alice";
        };
      };
  };

  # --- Packages: each a record of its arguments, named as in nixpkgs. ---
  pkgsFor =
    {
      system ? "x86_64-linux",
      overlays ? [ ],
    }:
    let
      base = final: {
        inherit lib;
        # pkgs.callPackage: the function's arguments from the package set,
        # those given winning; a missing one is an error, as in nixpkgs.
        callPackage =
          fn: args:
          let
            f = if isFunction fn then fn else import fn;
          in
          f (intersectAttrs (functionArgs f) final // args);
        # pkgs/build-support/node/build-npm-package: a derivation named
        # pname-version whose `meta` is its own.
        buildNpmPackage =
          args:
          derivation "${args.pname}-${args.version}" {
            standIn = "buildNpmPackage";
            inherit args;
            inherit (args) meta;
          };
        # pkgs/build-support/node/import-npm-lock: its config hook (npmConfigHook).
        importNpmLock.npmConfigHook = derivation "npm-config-hook" { };
        # Packages by their nixpkgs names; `nix` has its meta.mainProgram.
        # nixpkgs' default Node, its LTS (pkgs/top-level/all-packages.nix: nodejs = nodejs_<N>).
        nodejs = derivation "nodejs-24.11.1" { version = "24.11.1"; };
        # pkgs/build-support/trivial-builders: runCommand name env script.
        runCommand =
          name: env: script:
          derivation name {
            standIn = "runCommand:${script}";
            inherit env script;
          };
        # pkgs/build-support/trivial-builders: writeShellScript name text, an executable
        # script in the store; the stand-in keeps its text for the tests to read.
        writeShellScript =
          name: text:
          derivation name {
            standIn = "writeShellScript";
            inherit text;
          };
        # stdenv's mkDerivation: a derivation named `name`.
        stdenvNoCC.mkDerivation =
          args:
          derivation args.name {
            standIn = "mkDerivation";
            inherit args;
          };
        # The platform built for: `system` (x86_64-linux unless given), a Linux.
        stdenv.hostPlatform = {
          inherit system;
          isLinux = true;
        };
        # pkgs/pkgs-lib/formats.nix: a file holding the value as YAML. JSON is
        # YAML, so the file is the value's JSON, written to the store.
        formats.yaml = _: {
          generate = name: value: builtins.toFile name (toJSON value);
        };
        nix = derivation "nix" { meta.mainProgram = "nix"; };
        xz = derivation "xz" { };
        zstd = derivation "zstd" { };
        bzip2 = derivation "bzip2" { };
        attic-client = derivation "attic-client" { };
        cachix = derivation "cachix" { };
      };
      fix = f: let x = f x; in x;
    in
    fix (final: foldl' (prev: overlay: prev // overlay final prev) (base final) overlays);

  pkgs = pkgsFor { };

  # flake inputs README's snippets name, as flakes.
  flakes = rec {
    # nixpkgs' flake: `lib.nixosSystem` evaluates `modules` with `specialArgs`
    # on the NixOS modules (nixos/lib/eval-config.nix); here, a record of its
    # arguments, which the test evaluates with `evalModules` above.
    nixpkgs = {
      lib = lib // {
        nixosSystem = args: {
          standIn = "nixosSystem";
          inherit args;
        };
      };
    };
    # genpush's flake.nix, its nixpkgs input this one.
    genpush =
      let
        self = (import ../../flake.nix).outputs {
          inherit self;
          nixpkgs = nixpkgs // {
            outPath = toString ./nixpkgs;
          };
        };
      in
      self;
    # comin's flake: its NixOS module declares services.comin.enable (nlewo/comin, nix/module-options.nix).
    comin.nixosModules.comin = {
      options.services.comin.enable = lib.mkEnableOption "comin";
    };
  };
in
{
  inherit
    standInLib
    lib
    pkgs
    pkgsFor
    evalModules
    worlds
    flakes
    ;
}
