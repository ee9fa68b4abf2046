# services.genpush for NixOS.
#
# The unit files come from the package (systemd.packages: its
# lib/systemd/system, built from units/); this module writes none of them. It
# only adds what NixOS adds to any packaged unit, as drop-ins: wantedBy (the
# [Install] section of a packaged unit is not read), PATH, the credentials,
# the timer's schedule. The configuration is /etc/genpush/config.yaml, the
# default for root, checked at build time.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.genpush;
  genpushConfig = import ./config.nix;

  watchers =
    lib.optionalAttrs cfg.watchSystem {
      system = {
        option = "watchSystem";
        unit = "genpush-system.service";
      };
    }
    // lib.optionalAttrs cfg.watchComin {
      comin = {
        option = "watchComin";
        unit = "genpush-comin.service";
      };
    };

  configFile = (pkgs.formats.yaml { }).generate "genpush-config.yaml" (genpushConfig.render cfg.settings);

  # What systemd gives the services, for `$VARS` in paths that are not
  # secrets (with --no-secrets, genpush leaves a secret's unset `$VAR` alone).
  serviceEnvironment = {
    STATE_DIRECTORY = "/var/lib/genpush";
    CACHE_DIRECTORY = "/var/cache/genpush";
  };

  checkedConfigFile =
    if cfg.checkConfig then
      pkgs.runCommand "genpush-config.yaml" { } ''
        ${genpushConfig.checkScript {
          genpush = lib.getExe cfg.package;
          configFile = "${configFile}";
          environment = serviceEnvironment;
        }}
        cp ${configFile} "$out"
      ''
    else
      configFile;

  services = [
    "genpush-system"
    "genpush-comin"
    "genpush-verify"
    "genpush-queue"
  ];

  # Nix's post-build-hook: a program without arguments, run as root with the build's
  # OUT_PATHS and DRV_PATH; genpush reads /etc/genpush/config.yaml, root's default.
  postBuildHook = pkgs.writeShellScript "genpush-post-build-hook" ''
    export PATH=${lib.makeBinPath [ config.nix.package ]}''${PATH:+:$PATH}
    exec ${lib.getExe cfg.package} enqueue
  '';
in
{
  imports = [ (import ./module-options.nix { scope = "system"; }) ];

  config = lib.mkIf cfg.enable {
    assertions = map (message: {
      assertion = false;
      inherit message;
    }) (
      genpushConfig.problems {
        inherit (cfg) settings credentials;
        inherit watchers;
      }
    );

    environment.systemPackages = [ cfg.package ];
    environment.etc."genpush/config.yaml".source = checkedConfigFile;

    systemd.packages = [ cfg.package ];

    systemd.paths.genpush-system = lib.mkIf cfg.watchSystem { wantedBy = [ "paths.target" ]; };
    systemd.paths.genpush-comin = lib.mkIf cfg.watchComin { wantedBy = [ "paths.target" ]; };
    systemd.paths.genpush-queue = lib.mkIf cfg.postBuildHook.enable { wantedBy = [ "paths.target" ]; };
    systemd.timers.genpush-queue = lib.mkIf cfg.postBuildHook.enable { wantedBy = [ "timers.target" ]; };
    nix.settings.post-build-hook = lib.mkIf cfg.postBuildHook.enable postBuildHook;
    systemd.timers.genpush-verify = lib.mkIf cfg.verify.enable {
      wantedBy = [ "timers.target" ];
      # A drop-in adds to the unit's OnCalendar=; the empty value resets it first.
      timerConfig = lib.mkIf (cfg.verify.onCalendar != null) {
        OnCalendar = [
          ""
          cfg.verify.onCalendar
        ];
      };
    };

    systemd.services = lib.genAttrs services (_: {
      inherit (cfg) path;
      environment.GENPUSH_CONFIG = "/etc/genpush/config.yaml";
      serviceConfig.LoadCredential = lib.mkIf (cfg.credentials != { }) (
        genpushConfig.loadCredentials cfg.credentials
      );
      # Oneshots started by their path units and the timer: a switch that
      # changes them must not run a push of its own.
      restartIfChanged = false;
    });
  };
}
