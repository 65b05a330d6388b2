# fish completion for pqueued (pkit): pkit-complete answers from pqueued's grammar.
function __complete_pqueued
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete pqueued
end
complete -c pqueued -a "(__complete_pqueued)"
