# fish completion for pspawn (pkit): pkit-complete answers from pspawn's grammar.
function __complete_pspawn
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete pspawn
end
complete -c pspawn -a "(__complete_pspawn)"
