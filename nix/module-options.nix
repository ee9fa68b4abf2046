# The options of services.genpush, shared by the NixOS module (scope
# "system") and the home-manager module (scope "user"). `settings` mirrors
# genpush's YAML (docs/configuration.md); an option left at null
# is not written, so genpush's own default applies.
{ scope }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) literalExpression mkEnableOption mkOption types;
  cfg = config.services.genpush;
  isSystem = scope == "system";

  # A path-valued key: a string, never a Nix path (which would copy a secret
  # into the world-readable store). genpush expands `~` and `$VARS`.
  pathStr = types.str;
  optionalStr =
    description:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      inherit description;
    };

  profileType = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = name;
          defaultText = literalExpression "<name>";
          description = "The profile's name in genpush (state files, `--profile NAME`).";
        };
        path = mkOption {
          type = pathStr;
          example = "/nix/var/nix/profiles/system";
          description = "The profile link.";
        };
        system = optionalStr ''
          The Nix system of its generations, e.g. `aarch64-linux`; by default genpush
          reads `<generation>/system`, else uses the host's system.
        '';
      };
    }
  );

  cacheType = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = name;
          defaultText = literalExpression "<name>";
          description = "The cache's name in genpush (state, logs).";
        };
        type = mkOption {
          type = types.enum [
            "nix"
            "attic"
            "cachix"
          ];
          description = "The backend: any `nix copy --to` store, an Attic server, or Cachix.";
        };
        systems = mkOption {
          type = types.listOf types.str;
          default = [ pkgs.stdenv.hostPlatform.system ];
          defaultText = literalExpression "[ pkgs.stdenv.hostPlatform.system ]";
          description = "The Nix systems whose generations go to this cache.";
        };
        hosts = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "build-*" ];
          description = "Hostname globs: only these hosts' generations go to this cache (empty: every host's).";
        };
        systemFeatures = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "gccarch-skylake" ];
          description = ''
            Nix system features the host must have (its `nix.settings.system-features`, where
            NixOS puts `gccarch-<arch>` for builds tuned to the processor): only such hosts'
            generations go to this cache (empty: every host's).
          '';
        };
        store = optionalStr "`nix`: the store URI, e.g. `http://cache.lan:8080?compression=zstd`.";
        signingKeyFile = optionalStr ''
          `nix`, `cachix`: a file holding the signing key (a secret: an absolute path such as
          `/run/agenix/cache-key`, or `$CREDENTIALS_DIRECTORY/<name>` with `credentials.<name>`).
        '';
        queryConcurrency = mkOption {
          type = types.nullOr (types.ints.between 1 256);
          default = null;
          description = "`nix`: parallel narinfo queries (genpush's default: 32).";
        };
        fleet = mkOption {
          type = types.nullOr types.bool;
          default = null;
          example = true;
          description = ''
            `nix`: the cache is shared by hosts that switch together: claim each path before
            uploading it, so they upload it once between them (genpush's default: false, no
            claims; see docs/fleet.md). Only an `http(s)://` cache genpush uploads to itself, that
            takes `MKCOL`, or a `file://` cache coordinate; on any other store genpush refuses it.
          '';
        };
        timeoutSeconds = mkOption {
          type = types.nullOr (types.ints.between 1 3600);
          default = null;
          description = "Every type: the time-out of one request to the cache, in seconds (genpush's default: 30).";
        };
        endpoint = optionalStr "`attic`: the Attic server (required). `cachix`: Cachix's API (default https://cachix.org).";
        cache = optionalStr "`attic`, `cachix`: the cache's name on the server.";
        tokenFile = optionalStr "`attic`, `cachix`: a file holding the token (a secret, as `signingKeyFile`).";
        atticPath = optionalStr "`attic`: the attic client (default: `attic` on the services' PATH).";
        cachixPath = optionalStr "`cachix`: the cachix client (default: `cachix` on the services' PATH).";
      };
    }
  );

  usesType = t: lib.any (c: c.type == t) (lib.attrValues cfg.settings.caches);
in
{
  options.services.genpush = {
    enable = mkEnableOption "genpush, which pushes every new Nix generation to binary caches";

    package = mkOption {
      type = types.package;
      default = pkgs.genpush or (pkgs.callPackage ./package.nix { });
      defaultText = literalExpression "pkgs.genpush or (pkgs.callPackage ./nix/package.nix { })";
      description = "The genpush package; its unit files are the ones used.";
    };

    settings = {
      stateDir = optionalStr ''
        Where genpush keeps its state (default: the service's StateDirectory,
        ${if isSystem then "/var/lib/genpush" else "~/.local/state/genpush"}).
      '';
      profiles = mkOption {
        type = types.attrsOf profileType;
        default =
          if isSystem then
            {
              system.path = "/nix/var/nix/profiles/system";
              comin.path = "/nix/var/nix/profiles/system-profiles/comin";
            }
          else
            { };
        defaultText =
          if isSystem then
            literalExpression ''
              {
                system.path = "/nix/var/nix/profiles/system";
                comin.path = "/nix/var/nix/profiles/system-profiles/comin";
              }''
          else
            literalExpression "{ }";
        description = ''
          The profiles to push. Giving any replaces the default.${
            lib.optionalString (!isSystem) " Empty: genpush's default, the home-manager profile."
          }
        '';
      };
      caches = mkOption {
        type = types.attrsOf cacheType;
        default = { };
        example = literalExpression ''
          {
            lan = {
              type = "nix";
              store = "http://cache.lan:8080?compression=zstd";
              signingKeyFile = "$CREDENTIALS_DIRECTORY/signing-key";
            };
          }
        '';
        description = "The binary caches; a generation goes to every cache whose `systems` has its system.";
      };
      upstreamKeys = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        description = ''
          Paths signed by one of these keys came from upstream and are not pushed to Attic
          or Cachix (genpush's default: `[ "cache.nixos.org-1" ]`).
        '';
      };
      exclude = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "*.iso" ];
        description = "Globs on store path names (the part after the hash) never pushed.";
      };
      notify = mkOption {
        type = types.nullOr (
          types.enum [
            "failures"
            "always"
            "never"
          ]
        );
        default = null;
        example = "always";
        description = ''
          Desktop notifications over the session bus: `failures` (genpush's default) tells once
          when a generation fails to reach a cache and once when it gets there; `always` also
          tells of every upload and every upload deferred on a metered network; `never` sends
          none. Where no session bus answers (the system
          services), none is sent.
        '';
      };
      meteredLimit = mkOption {
        type = types.nullOr (types.either types.int types.str);
        default = null;
        example = "200 MB";
        description = ''
          On a network NetworkManager calls metered, uploads of more NAR bytes than this wait
          for an unmetered one (genpush's default: `"50 MB"`); `0` holds back every upload, `-1`
          ignores metering.
        '';
      };
      metricsFile = optionalStr ''
        Where to write the metrics file after every push and verify run, in node_exporter's
        textfile-collector format (a name ending in `.prom`, e.g.
        `/var/lib/prometheus-node-exporter/textfile/genpush.prom`); none by default.
      '';
    };

    credentials = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = literalExpression ''{ signing-key = config.age.secrets.cache-key.path; }'';
      description = ''
        Secret files handed to the genpush services with LoadCredential= (name -> path,
        from agenix or sops-nix); refer to one in `settings` as `$CREDENTIALS_DIRECTORY/<name>`.
      '';
    };

    path = mkOption {
      type = types.listOf types.package;
      default =
        [
          (
            if isSystem then
              config.nix.package
            else if (config.nix.package or null) == null then
              pkgs.nix
            else
              config.nix.package
          )
        ]
        # genpush compresses NARs for an HTTP cache with these (xz is Nix's default).
        ++ lib.optionals (usesType "nix") [
          pkgs.xz
          pkgs.zstd
          pkgs.bzip2
        ]
        ++ lib.optional (usesType "attic") pkgs.attic-client
        ++ lib.optional (usesType "cachix") pkgs.cachix;
      defaultText = literalExpression ''
        [ (config.nix.package or pkgs.nix) ] ++ lib.optionals <a nix cache> [ pkgs.xz pkgs.zstd pkgs.bzip2 ] ++ lib.optional <an attic cache> pkgs.attic-client ++ lib.optional <a cachix cache> pkgs.cachix
      '';
      description = "Packages on the genpush services' PATH: nix, the compressors genpush uses for HTTP caches, and the attic or cachix client.";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run `genpush config check --no-secrets` on the rendered configuration at build time
        (needs to run cfg.package on the build machine: turn it off when cross-compiling).
      '';
    };

    verify = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Run `genpush verify --repair` from genpush-verify.timer.";
      };
      onCalendar = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "weekly";
        description = "The timer's OnCalendar=, replacing the unit's (daily, up to 1 h random delay).";
      };
    };
  }
  // (
    if isSystem then
      {
        watchSystem = mkOption {
          type = types.bool;
          default = true;
          description = "Push on every switch of the system profile (genpush-system.path).";
        };
        watchComin = mkOption {
          type = types.bool;
          default = config.services.comin.enable or false;
          defaultText = literalExpression "config.services.comin.enable or false";
          description = "Push on every comin deployment (genpush-comin.path).";
        };
        postBuildHook.enable = mkOption {
          type = types.bool;
          default = false;
          description = ''
            Queue every path this machine builds for the caches: Nix's `post-build-hook` runs
            `genpush enqueue` (it records the build's outputs and returns; it contacts no
            cache, so a cache that is down never slows or fails a build), and
            genpush-queue.path starts `genpush push --queue` when something is queued
            (genpush-queue.timer retries what could not be pushed).
          '';
        };
      }
    else
      {
        watchHomeManager = mkOption {
          type = types.bool;
          default = true;
          description = "Push on every home-manager switch (genpush-home-manager.path).";
        };
      }
  );
}
