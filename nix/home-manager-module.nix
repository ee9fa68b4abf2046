# services.genpush for home-manager.
#
# home-manager has no systemd.packages, so the package's user units (built
# from units/user) are linked into ~/.config/systemd/user as they are, and
# enabled the way home-manager enables its own units: a link in
# <target>.wants/ (see home-manager's modules/systemd.nix), which sd-switch
# starts on activation. What this module adds goes into drop-ins. The
# configuration is ~/.config/genpush/config.yaml, checked at build time.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.genpush;
  genpushConfig = import ./config.nix;

  userUnits = "${cfg.package}/share/systemd/user";
  # The unit names, from the single source the package copies.
  unitNames = lib.attrNames (
    lib.filterAttrs (name: _: lib.hasSuffix ".service" name || lib.hasSuffix ".path" name || lib.hasSuffix ".timer" name) (
      builtins.readDir ../units/user
    )
  );
  serviceNames = lib.filter (lib.hasSuffix ".service") unitNames;

  configPath = "${config.xdg.configHome}/genpush/config.yaml";
  configFile = (pkgs.formats.yaml { }).generate "genpush-config.yaml" (genpushConfig.render cfg.settings);

  checkedConfigFile =
    if cfg.checkConfig then
      pkgs.runCommand "genpush-config.yaml" { } ''
        ${genpushConfig.checkScript {
          genpush = lib.getExe cfg.package;
          configFile = "${configFile}";
          environment = {
            HOME = config.home.homeDirectory;
            USER = config.home.username;
            XDG_CONFIG_HOME = config.xdg.configHome;
            XDG_STATE_HOME = config.xdg.stateHome;
          };
        }}
        cp ${configFile} "$out"
      ''
    else
      configFile;

  escape = lib.replaceStrings [ "%" ] [ "%%" ];
  serviceDropIn = ''
    [Service]
    Environment="PATH=${
      escape (lib.makeBinPath cfg.path)
    }:${escape config.home.profileDirectory}/bin:/run/current-system/sw/bin:/usr/bin:/bin"
    Environment="GENPUSH_CONFIG=${escape configPath}"
  ''
  + lib.concatMapStrings (line: "LoadCredential=${escape line}\n") (
    genpushConfig.loadCredentials cfg.credentials
  );

  link = name: { source = "${userUnits}/${name}"; };
in
{
  imports = [ (import ./module-options.nix { scope = "user"; }) ];

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = pkgs.stdenv.hostPlatform.isLinux;
        message = "services.genpush runs from systemd user units, so it needs Linux.";
      }
    ]
    ++ map (message: {
      assertion = false;
      inherit message;
    }) (
      genpushConfig.problems {
        inherit (cfg) settings credentials;
        watchers = lib.optionalAttrs cfg.watchHomeManager {
          home-manager = {
            option = "watchHomeManager";
            unit = "genpush-home-manager.service";
          };
        };
        # Without profiles, genpush pushes its default, named home-manager.
        defaultProfiles = true;
      }
    );

    home.packages = [ cfg.package ];

    xdg.configFile = lib.mkMerge [
      { "genpush/config.yaml".source = checkedConfigFile; }
      (lib.genAttrs (map (name: "systemd/user/${name}") unitNames) (
        file: link (lib.removePrefix "systemd/user/" file)
      ))
      (lib.listToAttrs (
        map (name: {
          name = "systemd/user/${name}.d/home-manager.conf";
          value.text = serviceDropIn;
        }) serviceNames
      ))
      (lib.mkIf cfg.watchHomeManager {
        "systemd/user/paths.target.wants/genpush-home-manager.path" = link "genpush-home-manager.path";
      })
      (lib.mkIf cfg.verify.enable {
        "systemd/user/timers.target.wants/genpush-verify.timer" = link "genpush-verify.timer";
      })
      (lib.mkIf (cfg.verify.onCalendar != null) {
        # A drop-in adds to the unit's OnCalendar=; the empty value resets it first.
        "systemd/user/genpush-verify.timer.d/schedule.conf".text = ''
          [Timer]
          OnCalendar=
          OnCalendar=${cfg.verify.onCalendar}
        '';
      })
    ];
  };
}
