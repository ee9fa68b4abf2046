# What the module checks look at, from an evaluation of genpush's modules with
# the stand-ins of stand-ins.nix (`s`): plain data, so that the same
# evaluation with a real nixpkgs lib (real-nixpkgs-lib.check.ts) can be
# compared with it. A build step shows as its script, which the tests run.
s:
let
  inherit (builtins)
    attrValues
    functionArgs
    intersectAttrs
    isAttrs
    mapAttrs
    ;
  render = (import ../../nix/config.nix).render;
  fileOf =
    source:
    if source == null then
      null
    else if isAttrs source && source ? script then
      { inherit (source) script; }
    else
      toString source;

  summaries = {
    nixos = c: {
      inherit (c.services.genpush) enable;
      settings = render c.services.genpush.settings;
      systemPackages = map toString c.environment.systemPackages;
      systemdPackages = map toString c.systemd.packages;
      etc = mapAttrs (_: f: fileOf f.source) c.environment.etc;
      # nix.conf's post-build-hook: the script's text (a stand-in keeps it), else its path.
      postBuildHook =
        let
          hook = c.nix.settings.post-build-hook or null;
        in
        if hook == null then null else hook.text or (toString hook);
      paths = mapAttrs (_: u: { inherit (u) wantedBy; }) c.systemd.paths;
      timers = mapAttrs (_: u: { inherit (u) wantedBy timerConfig; }) c.systemd.timers;
      services = mapAttrs (_: u: {
        path = map toString u.path;
        inherit (u)
          wantedBy
          environment
          serviceConfig
          restartIfChanged
          ;
      }) c.systemd.services;
    };
    home-manager = c: {
      inherit (c.services.genpush) enable;
      settings = render c.services.genpush.settings;
      packages = map toString c.home.packages;
      configFile = mapAttrs (_: f: {
        inherit (f) text;
        source = fileOf f.source;
      }) c.xdg.configFile;
    };
  };

  genpushModules = {
    nixos = ../../nix/nixos-module.nix;
    home-manager = ../../nix/home-manager-module.nix;
  };
in
rec {
  # genpush's module of `kind` ("nixos" or "home-manager") with `modules`.
  evaluate =
    kind:
    {
      modules ? [ ],
      specialArgs ? { },
    }:
    let
      result = s.evalModules {
        world = s.worlds.${kind};
        modules = [ genpushModules.${kind} ] ++ modules;
        inherit specialArgs;
      };
    in
    {
      inherit kind;
      inherit (result) failedAssertions;
    }
    // summaries.${kind} result.config;

  # A snippet of README: a flake (each of its nixosConfigurations, evaluated
  # with the modules and specialArgs it gives nixosSystem), or a module of
  # `kind`, evaluated with genpush's module turned on and README's
  # specialArgs (`genpush`, `comin`: the flake inputs).
  snippet =
    { file, kind }:
    let
      value = import file;
      inputs = {
        inherit (s.flakes) nixpkgs genpush comin;
      };
      outputs = value.outputs (intersectAttrs (functionArgs value.outputs) (inputs // { self = outputs; }));
    in
    if isAttrs value && value ? outputs then
      map (
        system:
        evaluate "nixos" {
          inherit (system.args) modules;
          specialArgs = system.args.specialArgs or { };
        }
      ) (attrValues (outputs.nixosConfigurations or { }))
    else
      [
        (evaluate kind {
          modules = [
            value
            { services.genpush.enable = true; }
          ];
          specialArgs = {
            inherit (s.flakes) genpush comin;
          };
        })
      ];
}
